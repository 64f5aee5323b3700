"""Loopback DDS discovery: the three variables, the user's choice kept unless confined, the domain never moved."""

from __future__ import annotations

import os

from rgbt_seg_core.utils.ros_discovery import use_local_ros_env

DISCOVERY = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY")


def test_sets_loopback_and_a_domain_in_an_empty_environment() -> None:
    env: dict[str, str] = {}
    assert use_local_ros_env(env) is env
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_LOCALHOST_ONLY"] == "1"
    assert 1 <= int(env["ROS_DOMAIN_ID"]) <= 100
    assert set(env) == {*DISCOVERY, "ROS_DOMAIN_ID"}


def test_the_users_choice_stands_unless_confined() -> None:
    user = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_LOCALHOST_ONLY": "0", "ROS_DOMAIN_ID": "62", "X": "y"}
    assert use_local_ros_env(dict(user)) == user
    confined = use_local_ros_env(dict(user), confine=True)
    assert confined == {**user, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1"}


def test_the_domain_is_random_only_when_unset() -> None:
    domains = {use_local_ros_env({})["ROS_DOMAIN_ID"] for _ in range(200)}
    assert len(domains) > 20 and all(1 <= int(d) <= 100 for d in domains)


def test_default_is_the_process_environment(monkeypatch) -> None:
    monkeypatch.delenv("ROS_LOCALHOST_ONLY", raising=False)
    monkeypatch.setenv("ROS_DOMAIN_ID", "77")
    assert use_local_ros_env() is os.environ
    assert os.environ["ROS_LOCALHOST_ONLY"] == "1" and os.environ["ROS_DOMAIN_ID"] == "77"


def test_the_suite_runs_confined() -> None:
    """test/conftest.py confines the suite before anything imports rclpy."""
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and os.environ["ROS_LOCALHOST_ONLY"] == "1"
