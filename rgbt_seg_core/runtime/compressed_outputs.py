"""The node's outputs in image_transport's ``compressed`` transport, without ROS (issue 28, deliverable 3).

A viewer over a robot's Wi-Fi asks for ``<topic>/compressed`` (RViz, Foxglove and ``rqt_image_view`` do), not for
9 MB/s of raw RGB. So each picture output has a ``compressed`` form, made as image_transport's compressed plugin
makes it, so that its subscriber (and Foxglove, which reads the payload alone) decodes it unchanged:

- ``labels/compressed``: PNG, lossless, so the decoded class ids equal the raw ``labels`` exactly (JPEG would
  blur class boundaries into ids that were never predicted). Format ``"mono8; png compressed "``: the plugin
  names the raw encoding, then the codec, then a target encoding for colour images only; the trailing space is
  the plugin's own.
- ``color/compressed`` and ``overlay/compressed``: JPEG at ``jpeg_quality``. Format ``"rgb8; jpeg compressed
  bgr8"``: the plugin encodes colour as BGR and says so, and its subscriber swaps back to the stated ``rgb8``.
- ``gate/rgb/compressed`` and ``gate/thermal/compressed``: the 32FC1 fusion gate maps as 16-bit PNG of
  ``round(gate * 65535)``, format ``"mono16; png compressed "``. The plugin's PNG takes 8 or 16 bits only, so a
  float map has no compressed form of its own; 16 bits keep every gate within 1/131070 of the raw value, and a
  reader recovers it as ``value / 65535`` (:func:`decode_gate`). Like the raw gates, only a backend that computes
  gates (the torch model) has them.

The node makes each only while it has a subscriber (:class:`~rgbt_seg_core.runtime.runtime.Outputs`), and
``bag-eval --out-compressed`` writes the same bytes into its output bag. Decoding is
:func:`rgbt_seg_core.runtime.imageconv.decode_image`, the camera decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import cv2
import numpy as np

__all__ = ["CompressedOutput", "COMPRESSIBLE", "JPEG_QUALITY_RANGE", "PNG_LEVEL", "PNG_STRATEGY", "check_jpeg_quality",
           "encode_png", "encode_jpeg", "encode_outputs", "check_compressible", "GATE_SCALE", "encode_gate",
           "decode_gate", "GATE_OUTPUTS"]

# output -> codec: what each compressed topic carries
COMPRESSIBLE: Mapping[str, str] = {"labels": "png", "color": "jpeg", "overlay": "jpeg", "gate/rgb": "png16",
                                   "gate/thermal": "png16"}
GATE_OUTPUTS = ("gate/rgb", "gate/thermal")  # in the order of a prediction's 2 x H x W gates
JPEG_QUALITY_RANGE = (1, 100)  # OpenCV's and the plugin's jpeg_quality bounds
# A label map is runs of one class id along each row: zlib's run-length strategy at level 1 finds them, smaller and
# faster than the plugin's default (level 3, default strategy): 3.9 kB in 1.9 ms against 5.2 kB in 2.8 ms, 640x480
# synthetic street scenes' labels (docs/benchmarks.md, "Compressed outputs"). Any PNG decoder reads it alike.
PNG_LEVEL = 1
PNG_STRATEGY = cv2.IMWRITE_PNG_STRATEGY_RLE
GATE_SCALE = 65535  # a gate map's 16-bit PNG holds round(gate * GATE_SCALE): a step of 1/65535


@dataclass(frozen=True)
class CompressedOutput:
    """One sensor_msgs/CompressedImage's content: its ``format`` string and its ``data``."""

    format: str
    data: bytes


def check_jpeg_quality(quality: Any, name: str = "jpeg_quality") -> int:
    """``quality`` as an int in [1, 100]; ValueError naming ``name`` (the setting) otherwise. OpenCV would clamp
    a value outside silently, so a typo would give another quality than asked without a word."""
    lo, hi = JPEG_QUALITY_RANGE
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not lo <= quality <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {quality!r}")
    return int(quality)


def _encoded(ext: str, image: np.ndarray, params: list[int], what: str) -> bytes:
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:  # OpenCV refuses only shapes and dtypes checked before; kept as an error, never an empty message
        raise ValueError(f"{what}: OpenCV could not encode a {image.dtype} {image.shape} image as {ext[1:]}")
    return buf.tobytes()


def encode_png(image: np.ndarray, encoding: str = "mono8", what: str = "labels") -> CompressedOutput:
    """A one-channel 8- or 16-bit image (``mono8``, ``mono16``) as lossless PNG, in the plugin's format. ``what``
    names the output in errors."""
    expected = {"mono8": np.uint8, "mono16": np.uint16}.get(encoding)
    if expected is None:
        raise ValueError(f"{what}: PNG outputs are mono8 or mono16, got encoding {encoding!r}")
    if image.ndim != 2 or image.dtype != expected or 0 in image.shape:
        raise ValueError(f"{what}: {encoding} needs a non-empty H x W {np.dtype(expected).name} array, got "
                         f"{image.dtype} {image.shape}")
    params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL, cv2.IMWRITE_PNG_STRATEGY, PNG_STRATEGY]
    data = _encoded(".png", np.ascontiguousarray(image), params, what)
    return CompressedOutput(f"{encoding}; png compressed ", data)


def encode_jpeg(rgb: np.ndarray, quality: int, what: str = "overlay") -> CompressedOutput:
    """An H x W x 3 uint8 RGB picture as JPEG at ``quality`` (checked: :func:`check_jpeg_quality`), in the
    plugin's format; ``what`` names the output in errors."""
    quality = check_jpeg_quality(quality)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape[:2]:
        raise ValueError(f"{what}: rgb8 needs a non-empty H x W x 3 uint8 array, got {rgb.dtype} {rgb.shape}")
    data = _encoded(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality], what)
    return CompressedOutput("rgb8; jpeg compressed bgr8", data)


def check_compressible(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a set of outputs that have a compressed form; ValueError naming any other."""
    wanted = frozenset(names)
    unknown = sorted(wanted - set(COMPRESSIBLE))
    if unknown:
        raise ValueError(f"no compressed form of output(s) {', '.join(unknown)}; only {', '.join(COMPRESSIBLE)}")
    return wanted


def encode_outputs(wanted: Iterable[str], quality: int, *, labels: np.ndarray, color: np.ndarray | None = None,
                   overlay: np.ndarray | None = None, gates: np.ndarray | None = None) -> dict[str, CompressedOutput]:
    """The compressed form of each ``wanted`` output (labels, color, overlay, gate/rgb, gate/thermal), by name. A
    wanted picture that was not rendered is an error naming it: the caller asked the engine for it. Gates that are
    None are left out instead, as the raw gate topics are: a backend that computes labels only has none."""
    pictures = {"color": color, "overlay": overlay}
    out: dict[str, CompressedOutput] = {}
    for name in sorted(check_compressible(wanted)):
        if name == "labels":
            out[name] = encode_png(labels, "mono8", "labels")
            continue
        if name in GATE_OUTPUTS:
            if gates is not None:
                out[name] = encode_gate(gates[GATE_OUTPUTS.index(name)], name)
            continue
        picture = pictures[name]
        if picture is None:
            raise ValueError(f"{name}/compressed wanted, but no {name} picture was rendered")
        out[name] = encode_jpeg(picture, quality, name)
    return out


def encode_gate(gate: np.ndarray, what: str = "gate") -> CompressedOutput:
    """A fusion gate map (H x W float, values in [0, 1]) as lossless 16-bit PNG of ``round(gate * 65535)``, in
    the plugin's ``mono16`` format, so that Foxglove and RViz show it and a reader gets ``value / 65535`` back
    within half a step. A value that would not round into [0, 65535], or is not finite, is an error naming
    ``what``: it is no gate, and clipping it would hide a model fault in a picture that looks right."""
    if gate.ndim != 2 or gate.dtype.kind != "f" or 0 in gate.shape:
        raise ValueError(f"{what}: a gate map is a non-empty H x W float array, got {gate.dtype} {gate.shape}")
    scaled = gate.astype(np.float64) * GATE_SCALE  # float64: the product and its rounding are exact enough
    if not np.isfinite(scaled).all() or scaled.min() < -0.5 or scaled.max() > GATE_SCALE + 0.5:
        finite = gate[np.isfinite(gate)]
        span = f"[{float(finite.min()):.6g}, {float(finite.max()):.6g}]" if finite.size else "no finite value"
        raise ValueError(f"{what}: gate values must be finite and in [0, 1], got {span}"
                         f"{'' if finite.size == gate.size else ' and non-finite values'}")
    values = np.clip(np.rint(scaled), 0, GATE_SCALE).astype(np.uint16)  # +-0.5 at the ends rounds to 0 or 65535
    return encode_png(values, "mono16", what)


def decode_gate(values: np.ndarray, what: str = "gate") -> np.ndarray:
    """A decoded gate PNG (``mono16``) as the gate map it encodes, float32 ``value / 65535``."""
    if values.dtype != np.uint16:
        raise ValueError(f"{what}: a gate PNG decodes to mono16 (uint16), got {values.dtype}")
    return (values.astype(np.float64) / GATE_SCALE).astype(np.float32)
