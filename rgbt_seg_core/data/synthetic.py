"""Synthetic RGB-thermal street scenes in the MFNet layout: the embedded default of the demo and the tests.

Why it looks the way it does: the scenes exercise what makes RGB-T fusion worth having.
  * Day and night frames (names ``00001D`` / ``00002N``, as MFNet). At night the RGB image is dark and noisy
    and only lit things (head-lights, street-lamp pools) keep their colour; thermal is unchanged.
  * Every MFNet class is a shape with a plausible colour and a thermal signature: warm people and engines,
    cold cones, kerbs and guardrails, a bump slightly warmer than the road in the sun.
  * Some objects are visible in one modality only (camouflaged in RGB, or at ambient temperature).
  * Optional RGB-thermal misalignment (a per-frame shift of the thermal image, as an imperfect rig gives).

Deterministic: frame ``i`` uses ``numpy.random.default_rng([seed, i])``, so the same seed gives the same files
whatever ``num`` is, and the test split does not change when more frames are generated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from rgbt_seg_core.data.png import png_bytes
from rgbt_seg_core.utils.atomic import atomic_write_bytes
from rgbt_seg_core.utils.classes import MFNET_CLASSES

__all__ = ["SynthConfig", "render_frame", "write_synthetic_dataset", "SPLIT_FRACTIONS"]

CAR, PERSON, BIKE, CURVE, CAR_STOP, GUARDRAIL, CONE, BUMP = range(1, 9)
SPLIT_FRACTIONS = (0.5, 0.25, 0.25)  # train / val / test, MFNet's 2:1:1


@dataclass(frozen=True)
class SynthConfig:
    height: int = 480
    width: int = 640
    seed: int = 0
    misalign: int = 0  # max |shift| in pixels of thermal against RGB
    misalign_dynamic: int = 0  # max |shift| of each object on its own in thermal (CIMNet §IV-C, dynamic offset)
    night_fraction: float = 0.5
    single_modality_fraction: float = 0.12  # objects visible in one modality only

    def __post_init__(self) -> None:
        if self.height < 64 or self.width < 64:
            raise ValueError(f"synthetic frames must be at least 64x64, got {self.height}x{self.width}")
        if self.misalign < 0:
            raise ValueError(f"misalign must be >= 0 pixels, got {self.misalign}")
        if not 0 <= self.misalign_dynamic <= min(self.height, self.width):
            raise ValueError(f"misalign_dynamic must lie in 0..{min(self.height, self.width)} pixels, "
                             f"got {self.misalign_dynamic}")
        if not 0.0 <= self.night_fraction <= 1.0:
            raise ValueError(f"night_fraction must lie in [0, 1], got {self.night_fraction}")


class _Canvas:
    """RGB (float 0..255), thermal (float 0..255) and label layers drawn together."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.thermal = np.zeros((h, w), np.float32)
        self.label = np.zeros((h, w), np.uint8)
        self.emissive = np.zeros((h, w), bool)  # lights that stay bright at night

    def paint(self, mask: np.ndarray, cls: int, rgb: tuple[float, float, float] | None, temp: float | None) -> None:
        m = mask > 0
        if rgb is not None:
            self.rgb[m] = rgb
            self.emissive[m] = False
        if temp is not None:
            self.thermal[m] = temp
        if cls >= 0:
            self.label[m] = cls

    def mask(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)


def _ground(rng: np.random.Generator, c: _Canvas, night: bool) -> int:
    h, w = c.h, c.w
    horizon = int(h * rng.uniform(0.33, 0.42))
    ys = np.arange(h, dtype=np.float32)[:, None]
    sky = np.array([150, 190, 235], np.float32) if not night else np.array([12, 14, 25], np.float32)
    c.rgb[:horizon] = sky * (0.85 + 0.15 * (ys[:horizon] / horizon))[:, :, None] if horizon else sky
    c.thermal[:horizon] = 25 + 10 * rng.random()
    # buildings/vegetation band just above the horizon
    band = max(2, int(h * 0.08))
    c.rgb[horizon - band : horizon] = (90, 110, 80) if not night else (10, 12, 10)
    c.thermal[horizon - band : horizon] = 70 + 15 * rng.random()
    asphalt = rng.uniform(85, 115)
    c.rgb[horizon:] = (asphalt, asphalt, asphalt * 1.02)
    road_t = (120 if not night else 95) + rng.uniform(-8, 8)
    c.thermal[horizon:] = road_t + 12 * (ys[horizon:] - horizon) / max(1, h - horizon)
    # lane markings (paint, not a class)
    for x0 in (0.5,):
        xs = int(w * x0)
        for y in range(horizon + 4, h, max(6, h // 12)):
            thick = max(1, int(2 * (y - horizon) / max(1, h - horizon)) + 1)
            cv2.line(c.rgb, (xs, y), (xs, min(h - 1, y + max(3, h // 30))), (225, 225, 215), thick)
    return horizon


def _scale(y: float, horizon: int, h: int) -> float:
    """Perspective: objects grow linearly with distance below the horizon."""
    return 0.25 + 0.95 * max(0.0, (y - horizon)) / max(1, h - horizon)


def _palette_colour(rng: np.random.Generator, colours: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    base = np.array(colours[int(rng.integers(len(colours)))], np.float32)
    return tuple(np.clip(base + rng.normal(0, 8, 3), 0, 255).tolist())


CAR_COLOURS = [(200, 30, 30), (30, 60, 170), (230, 230, 230), (25, 25, 25), (140, 140, 150), (20, 110, 60)]
CLOTHES = [(180, 40, 40), (40, 40, 160), (30, 120, 60), (220, 190, 60), (60, 60, 60), (200, 200, 200)]


def _car(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.15 * (c.h - horizon), c.h * 0.95)
    s = _scale(y, horizon, c.h)
    bw, bh = c.w * 0.26 * s, c.h * 0.16 * s
    x = rng.uniform(-0.1 * bw, c.w - 0.9 * bw)
    body = c.mask()
    cv2.rectangle(body, (int(x), int(y - bh * 0.65)), (int(x + bw), int(y)), 1, -1)
    cabin = np.array([[x + bw * 0.18, y - bh * 0.65], [x + bw * 0.3, y - bh], [x + bw * 0.72, y - bh],
                      [x + bw * 0.85, y - bh * 0.65]], np.int32)
    cv2.fillPoly(body, [cabin], 1)
    colour = _palette_colour(rng, CAR_COLOURS)
    c.paint(body, CAR, None if hide == "rgb" else colour, None if hide == "thermal" else 125 + rng.uniform(0, 20))
    win = c.mask()
    cv2.fillPoly(win, [np.array([[x + bw * 0.24, y - bh * 0.66], [x + bw * 0.32, y - bh * 0.93],
                                 [x + bw * 0.7, y - bh * 0.93], [x + bw * 0.8, y - bh * 0.66]], np.int32)], 1)
    if hide != "rgb":
        c.paint(win, CAR, (40, 50, 60), None)
    # wheels and engine: the warm parts
    r = max(1, int(bh * 0.18))
    for wx in (x + bw * 0.2, x + bw * 0.8):
        m = c.mask()
        cv2.circle(m, (int(wx), int(y)), r, 1, -1)
        c.paint(m, CAR, None if hide == "rgb" else (20, 20, 20), None if hide == "thermal" else 175)
    eng = c.mask()
    front = x + bw * 0.78 if rng.random() < 0.5 else x
    cv2.rectangle(eng, (int(front), int(y - bh * 0.6)), (int(front + bw * 0.22), int(y - bh * 0.1)), 1, -1)
    if hide != "thermal":
        c.paint(eng, CAR, None, 215 + rng.uniform(0, 30))
    if night and hide != "rgb":  # head/tail lights stay visible in the dark
        for lx in (x + bw * 0.08, x + bw * 0.92):
            m = c.mask()
            cv2.circle(m, (int(lx), int(y - bh * 0.4)), max(1, r // 2), 1, -1)
            c.paint(m, CAR, (255, 240, 200), None)
            c.emissive[m > 0] = True


def _person(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.1 * (c.h - horizon), c.h * 0.97)
    s = _scale(y, horizon, c.h)
    ph = c.h * 0.3 * s
    pw = ph * 0.32
    x = rng.uniform(pw, c.w - pw)
    temp = None if hide == "thermal" else 205 + rng.uniform(0, 40)
    cloth = None if hide == "rgb" else _palette_colour(rng, CLOTHES)
    m = c.mask()
    cv2.rectangle(m, (int(x - pw / 2), int(y - ph * 0.8)), (int(x + pw / 2), int(y - ph * 0.4)), 1, -1)  # torso
    cv2.rectangle(m, (int(x - pw / 2), int(y - ph * 0.4)), (int(x - pw * 0.05), int(y)), 1, -1)  # legs
    cv2.rectangle(m, (int(x + pw * 0.05), int(y - ph * 0.4)), (int(x + pw / 2), int(y)), 1, -1)
    c.paint(m, PERSON, cloth, temp)
    head = c.mask()
    cv2.ellipse(head, (int(x), int(y - ph * 0.9)), (max(1, int(pw * 0.3)), max(1, int(ph * 0.1))), 0, 0, 360, 1, -1)
    c.paint(head, PERSON, None if hide == "rgb" else (225, 180, 150), None if temp is None else temp + 10)


def _bike(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.2 * (c.h - horizon), c.h * 0.95)
    s = _scale(y, horizon, c.h)
    bw = c.w * 0.14 * s
    r = max(2, int(bw * 0.24))
    x = rng.uniform(0, c.w - bw)
    m = c.mask()
    t = max(2, r // 3)
    for wx in (x + r, x + bw - r):
        cv2.circle(m, (int(wx), int(y - r)), r, 1, t)
    frame = np.array([[x + r, y - r], [x + bw * 0.45, y - r], [x + bw * 0.6, y - 2.2 * r],
                      [x + bw * 0.35, y - 2.2 * r]])
    cv2.polylines(m, [frame.astype(np.int32)], True, 1, t)
    cv2.line(m, (int(x + bw * 0.6), int(y - 2.2 * r)), (int(x + bw - r), int(y - r)), 1, t)
    c.paint(m, BIKE, None if hide == "rgb" else (160, 30, 160), None if hide == "thermal" else 165)


def _curve(rng, c: _Canvas, horizon: int, night: bool, hide: str, side: int) -> None:
    # a kerb running from near the horizon to the bottom edge, on one side of the road
    xt = c.w * (0.5 + side * rng.uniform(0.06, 0.12))
    xb = c.w * (0.5 + side * rng.uniform(0.42, 0.6))
    th_t, th_b = 2, max(4, int(c.w * 0.03))
    poly = np.array([[xt, horizon], [xt + side * th_t, horizon], [xb + side * th_b, c.h], [xb, c.h]], np.int32)
    m = c.mask()
    cv2.fillPoly(m, [poly], 1)
    c.paint(m, CURVE, None if hide == "rgb" else (205, 205, 195), None if hide == "thermal" else 60 + rng.uniform(0, 8))


def _guardrail(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    side = -1 if rng.random() < 0.5 else 1
    y_far, y_near = horizon + 0.05 * (c.h - horizon), horizon + rng.uniform(0.45, 0.7) * (c.h - horizon)
    x_far = c.w * (0.5 + side * 0.16)
    x_near = 0 if side < 0 else c.w - 1
    hf, hn = max(2, c.h * 0.015), max(4, c.h * 0.06)
    poly = np.array([[x_far, y_far - hf], [x_near, y_near - hn], [x_near, y_near], [x_far, y_far]], np.int32)
    m = c.mask()
    cv2.fillPoly(m, [poly], 1)
    c.paint(m, GUARDRAIL, None if hide == "rgb" else (175, 180, 185), None if hide == "thermal" else 48)


def _cone(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.2 * (c.h - horizon), c.h * 0.97)
    s = _scale(y, horizon, c.h)
    ch = c.h * 0.12 * s
    x = rng.uniform(ch, c.w - ch)
    m = c.mask()
    cv2.fillPoly(m, [np.array([[x - ch * 0.35, y], [x + ch * 0.35, y], [x, y - ch]], np.int32)], 1)
    # cones are at ambient temperature: a little colder than the road, hard to see in thermal by day
    c.paint(m, CONE, None if hide == "rgb" else (250, 110, 20), None if hide == "thermal" else 75 + rng.uniform(0, 10))
    band = c.mask()
    cv2.rectangle(band, (int(x - ch * 0.2), int(y - ch * 0.55)), (int(x + ch * 0.2), int(y - ch * 0.42)), 1, -1)
    if hide != "rgb":
        c.paint(band & m, CONE, (240, 240, 240), None)


def _car_stop(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.3 * (c.h - horizon), c.h * 0.97)
    s = _scale(y, horizon, c.h)
    bw, bh = c.w * 0.12 * s, c.h * 0.035 * s + 2
    x = rng.uniform(0, c.w - bw)
    m = c.mask()
    cv2.rectangle(m, (int(x), int(y - bh)), (int(x + bw), int(y)), 1, -1)
    c.paint(m, CAR_STOP, None if hide == "rgb" else (230, 200, 30), None if hide == "thermal" else 88)


def _bump(rng, c: _Canvas, horizon: int, night: bool, hide: str) -> None:
    y = rng.uniform(horizon + 0.35 * (c.h - horizon), c.h * 0.9)
    s = _scale(y, horizon, c.h)
    bh = max(3, int(c.h * 0.04 * s))
    half = c.w * (0.12 + 0.4 * (y - horizon) / max(1, c.h - horizon))
    x0, x1 = int(c.w / 2 - half), int(c.w / 2 + half)
    m = c.mask()
    cv2.rectangle(m, (x0, int(y - bh)), (x1, int(y)), 1, -1)
    c.paint(m, BUMP, None if hide == "rgb" else (235, 210, 30),
            None if hide == "thermal" else (150 if not night else 110))
    if hide != "rgb":
        step = max(4, (x1 - x0) // 8)
        for sx in range(x0, x1, 2 * step):
            stripe = c.mask()
            cv2.rectangle(stripe, (sx, int(y - bh)), (min(x1, sx + step), int(y)), 1, -1)
            c.paint(stripe, BUMP, (25, 25, 25), None)


def render_frame(cfg: SynthConfig, index: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """One frame: ``(name, rgb uint8 HxWx3, thermal uint8 HxW, label uint8 HxW)``; the name ends in D or N."""
    rng = np.random.default_rng([cfg.seed, index])
    night = bool(rng.random() < cfg.night_fraction)
    c = _Canvas(cfg.height, cfg.width)
    horizon = _ground(rng, c, night)

    def hide() -> str:
        if rng.random() >= cfg.single_modality_fraction:
            return ""
        return "rgb" if rng.random() < 0.5 else "thermal"

    for side in (-1, 1):
        if rng.random() < 0.8:
            _curve(rng, c, horizon, night, hide(), side)
    if rng.random() < 0.55:
        _guardrail(rng, c, horizon, night, hide())
    if rng.random() < 0.5:
        _bump(rng, c, horizon, night, hide())
    # near objects are drawn last so they occlude far ones; sort the placements by their ground line
    drawers: list[Callable[..., None]] = (
        [_car] * int(rng.integers(1, 4)) + [_person] * int(rng.integers(0, 4)) + [_bike] * int(rng.integers(0, 3))
        + [_cone] * int(rng.integers(0, 4)) + [_car_stop] * int(rng.integers(0, 3))
    )
    order = rng.permutation(len(drawers))
    for k in order:
        drawers[k](rng, c, horizon, night, hide())

    rgb: np.ndarray = c.rgb  # float canvas, then noise of float64: the dtype widens on the way
    if night:
        lamp: np.ndarray = np.zeros_like(c.thermal)
        for _ in range(int(rng.integers(0, 3))):  # street-lamp pools: local light at night
            cv2.circle(lamp, (int(rng.uniform(0, c.w)), int(rng.uniform(horizon, c.h))), int(c.h * 0.2), 1.0, -1)
        lamp = cv2.GaussianBlur(lamp, (0, 0), c.h * 0.06)
        gain = 0.12 + 0.5 * np.clip(lamp, 0, 1)
        rgb = np.where(c.emissive[:, :, None], rgb, rgb * gain[:, :, None])
        rgb = rgb + rng.normal(0, 7, rgb.shape)
    else:
        rgb = rgb * rng.uniform(0.85, 1.1) + rng.normal(0, 3, rgb.shape)
    thermal: np.ndarray = cv2.GaussianBlur(c.thermal, (0, 0), 0.8) + rng.normal(0, 2.5, c.thermal.shape)
    if cfg.misalign:
        dx, dy = (int(v) for v in rng.integers(-cfg.misalign, cfg.misalign + 1, 2))
        thermal = cv2.warpAffine(
            thermal.astype(np.float32), np.array([[1, 0, dx], [0, 1, dy]], np.float32), (c.w, c.h),
            borderMode=cv2.BORDER_REPLICATE,
        )
    if cfg.misalign_dynamic:  # objects moved apart from the scene: fast motion between two exposures
        from rgbt_seg_core.data.perturb import shift_objects

        # a stream of its own, so that frames without dynamic misalignment stay exactly as before
        thermal = shift_objects(thermal.astype(np.float32), c.label, cfg.misalign_dynamic,
                                np.random.default_rng([cfg.seed, index, 1]))
    name = f"{index + 1:05d}{'N' if night else 'D'}"
    return (
        name,
        np.clip(rgb, 0, 255).astype(np.uint8),
        np.clip(thermal, 0, 255).astype(np.uint8),
        c.label,
    )


def write_synthetic_dataset(
    out: str | Path, num: int, cfg: SynthConfig, progress: Callable[[int], object] | None = None
) -> dict[str, list[str]]:
    """Write ``num`` frames in the MFNet layout plus ``synth.json``; returns the split lists.

    Frames are assigned to train/val/test by index (every 4th frame, 2:1:1) so that growing ``num`` keeps the
    earlier frames in the same split. Files are written atomically; an existing data set with other settings is
    refused rather than mixed.
    """
    if num < 4:
        raise ValueError(f"synthetic data set needs at least 4 frames (one per split), got {num}")
    out = Path(out)
    info_path = out / "synth.json"
    info = {
        "generator": "rgbt-seg synth",
        "version": 1,
        "seed": cfg.seed,
        "num": num,
        "image_size": [cfg.height, cfg.width],
        "misalign": cfg.misalign,
        "misalign_dynamic": cfg.misalign_dynamic,
        "night_fraction": cfg.night_fraction,
        "single_modality_fraction": cfg.single_modality_fraction,
        "classes": list(MFNET_CLASSES),
    }
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        old.setdefault("misalign_dynamic", 0)  # written before the option existed: none
        if {k: v for k, v in old.items() if k != "num"} != {k: v for k, v in info.items() if k != "num"}:
            raise ValueError(f"{out} already holds a synthetic data set with other settings; choose another --out")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not an rgbt-seg synthetic data set; refusing to write into it")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {k: [] for k in ("train", "val", "test", "test_day", "test_night")}
    for i in range(num):
        name, rgb, thermal, label = render_frame(cfg, i)
        bgra = np.dstack([rgb[:, :, ::-1], thermal])  # file channel order R, G, B, T; OpenCV writes BGRA
        atomic_write_bytes(out / "images" / f"{name}.png", png_bytes(bgra, compression=1))
        atomic_write_bytes(out / "labels" / f"{name}.png", png_bytes(label, compression=1))
        split = ("train", "train", "val", "test")[i % 4]
        splits[split].append(name)
        if split == "test":
            splits["test_night" if name.endswith("N") else "test_day"].append(name)
        if progress:
            progress(i)
    for split, names in splits.items():
        atomic_write_bytes(out / f"{split}.txt", ("\n".join(names) + "\n").encode())
    atomic_write_bytes(info_path, json.dumps(info, indent=2).encode())
    return splits
