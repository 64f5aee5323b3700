"""DDS discovery confined to this machine. Set before anything initialises rclpy; only environment variables, so
the core can provide it without importing ROS. Jazzy and later read ``ROS_AUTOMATIC_DISCOVERY_RANGE``, Humble reads
``ROS_LOCALHOST_ONLY``; a random ``ROS_DOMAIN_ID`` keeps parallel runs on one machine apart. The Makefile and
``.ci/run`` set the same three in shell."""

from __future__ import annotations

import os
import random
from typing import MutableMapping

__all__ = ["LOOPBACK_DISCOVERY", "use_local_ros_env"]

LOOPBACK_DISCOVERY = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}


def use_local_ros_env(env: MutableMapping[str, str] | None = None, *,
                      confine: bool = False) -> MutableMapping[str, str]:
    """Loopback discovery and a random domain (1..100) in ``env`` (default ``os.environ``), which is returned.

    Without ``confine`` a setting already there is the user's choice and stays; with it (tests, which must never
    reach another machine) the discovery settings are overwritten. A domain already chosen stays either way."""
    env = os.environ if env is None else env
    for key, value in LOOPBACK_DISCOVERY.items():
        if confine:
            env[key] = value
        else:
            env.setdefault(key, value)
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    return env
