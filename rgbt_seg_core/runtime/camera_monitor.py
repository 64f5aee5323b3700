"""Which camera is alive, by how long each has been silent.

A camera counts as failed after ``timeout`` seconds without a frame. A camera that has never sent one is given
``timeout`` from the moment the *other* camera first appears, not from start-up: the two drivers rarely start
together, and a node started long before its cameras must not take the first thermal frame as proof that the
RGB camera is dead (it would then publish thermal-only outputs while RGB is merely a few milliseconds late).
"""

from __future__ import annotations

from rgbt_seg_core.runtime.clock import Clock

__all__ = ["CameraMonitor", "MODALITY_NAMES"]

MODALITY_NAMES = ("rgb", "thermal")


class CameraMonitor:
    def __init__(self, timeout: float, clock: Clock) -> None:
        if timeout < 0:
            raise ValueError(f"modality timeout must be >= 0 seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.clock = clock
        self.started = clock()
        self.first_any: float | None = None
        self.last_seen: list[float | None] = [None, None]

    def seen(self, modality: int) -> None:
        now = self.clock()
        self.last_seen[modality] = now
        if self.first_any is None:
            self.first_any = now

    def silence(self, modality: int) -> float | None:
        """Seconds since the camera's last frame (or since the other camera's first); None before any frame."""
        ref = self.last_seen[modality] if self.last_seen[modality] is not None else self.first_any
        return None if ref is None else self.clock() - ref

    def failed(self, modality: int) -> bool:
        s = self.silence(modality)
        return s is not None and s > self.timeout

    def no_input(self) -> bool:
        """Nothing from either camera for ``timeout`` seconds (since start-up, if nothing ever came)."""
        if self.first_any is None:
            return self.clock() - self.started > self.timeout
        return self.failed(0) and self.failed(1)

    def status(self) -> dict[str, str]:
        out = {}
        for m, name in enumerate(MODALITY_NAMES):
            s = self.silence(m)
            if self.last_seen[m] is None and (s is None and self.no_input() or s is not None and s > self.timeout):
                out[name] = "never received"
            elif s is None or s <= self.timeout:
                out[name] = "ok" if self.last_seen[m] is not None else "waiting"
            else:
                out[name] = f"silent for {s:.1f} s"
        return out
