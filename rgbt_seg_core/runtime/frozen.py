"""Which camera is frozen: its frames have stayed bit-identical for longer than a timeout.

A driver that has lost its sensor often keeps publishing the last frame it got, with fresh stamps, and a thermal
camera whose flat-field correction has hung does the same. Such a camera looks alive to a silence check, so the
node would go on fusing a stale image. Real sensors never repeat a frame exactly (there is always noise), except
for short stretches: a thermal camera's flat-field correction holds its output for about half a second. So only
a run of identical frames longer than ``timeout`` counts, and the first frame that differs ends it.

Frames are compared by a CRC-32 of their pixels: cheap (well under a millisecond for a VGA frame) and with no
reference to the previous frame kept alive.
"""

from __future__ import annotations

import zlib

import numpy as np

from rgbt_seg_core.runtime.clock import Clock

__all__ = ["FrozenDetector", "frame_digest"]


def frame_digest(image: np.ndarray) -> int:
    """CRC-32 of the pixels and of the shape (a frame that changes size has changed)."""
    data = np.ascontiguousarray(image)
    return zlib.crc32(data.data.cast("B"), zlib.crc32(repr((data.shape, data.dtype.str)).encode()))


class FrozenDetector:
    """Per camera: since when its frames have been identical. ``timeout`` 0 turns the check off."""

    def __init__(self, timeout: float, clock: Clock, cameras: int = 2) -> None:
        self.clock = clock
        self.timeout = timeout
        self._digest: list[int | None] = [None] * cameras
        self._since: list[float] = [0.0] * cameras
        self._frozen = [False] * cameras

    @property
    def timeout(self) -> float:
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"frozen_timeout must be >= 0 seconds (0: off), got {seconds!r}")
        self._timeout = float(seconds)

    def check(self, camera: int, digest: int | None) -> bool:
        """Note a frame by its :func:`frame_digest` (computed by the caller, outside any lock; None while the check
        is off); True when the camera is frozen (this frame is a repeat past the timeout)."""
        if self._timeout == 0 or digest is None:
            self._frozen[camera] = False
            self._digest[camera] = None  # turned on again later: a run starts afresh
            return False
        now = self.clock()
        if digest != self._digest[camera]:
            self._digest[camera], self._since[camera] = digest, now
            self._frozen[camera] = False
        else:
            self._frozen[camera] = now - self._since[camera] > self._timeout
        return self._frozen[camera]

    def frozen(self, camera: int) -> bool:
        return self._timeout > 0 and self._frozen[camera]

    def frozen_for(self, camera: int) -> float:
        """Seconds the current run of identical frames has lasted (0 when not frozen)."""
        return self.clock() - self._since[camera] if self.frozen(camera) else 0.0
