"""Reading and writing sensor_msgs/Image bags with rosbags (mcap or sqlite3), no ROS install needed.

Bags are written in rosbag2 format version 8. Version 9 (Kilted) stores QoS enums as strings, which older
readers fail to parse; version 8 is the oldest rosbags can write and is read by Jazzy and Kilted. Humble's
reader does not declare a maximum version and parses the fields it knows (see docs/bags.md for what is and is not
verified). Message definitions come from the Humble type store; sensor_msgs/Image is identical in all three
distributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.stores.ros2_humble import std_msgs__msg__Header as Header

from rgbt_seg_core.runtime.imageconv import array_to_image_fields, stamp_ns

__all__ = ["TYPESTORE", "BagImage", "BagError", "ImageBagWriter", "read_images", "list_topics", "require_topics",
           "BAG_VERSION", "bag_span", "LABEL_INFO", "VISION_MSGS"]

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
LABEL_INFO = "vision_msgs/msg/LabelInfo"
# vision_msgs' LabelInfo and VisionClass (vision_msgs >= 4.0), not in any rosbags type store: the fields of the
# project's scripts/vision_msgs/msg/*.msg (what the node's pip-only build of vision_msgs compiles; a test keeps the
# two equal), so that an output bag says what its label ids mean, under upstream's type name and hash
VISION_MSGS = {"vision_msgs/msg/VisionClass": "uint16 class_id\nstring class_name\n",
               LABEL_INFO: "std_msgs/Header header\nVisionClass[] class_map\nfloat32 threshold\n"}
TYPESTORE.register({k: v for name, text in VISION_MSGS.items() for k, v in get_types_from_msg(text, name).items()})
BAG_VERSION: Literal[8] = 8


class BagError(RuntimeError):
    """A bag that cannot be read as asked; the message names the bag and what was found in it."""


@dataclass
class BagImage:
    topic: str
    bag_time_ns: int
    stamp: float  # header stamp, seconds
    stamp_ns: int  # header stamp, integer nanoseconds (exact matching)
    frame_id: str
    msg: Any  # the deserialised message (Image or CompressedImage)


class ImageBagWriter:
    """Writes Image messages (numpy arrays) to a new bag; ``with`` closes it (and finalises the metadata)."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        if storage not in ("mcap", "sqlite3"):
            raise ValueError(f"storage must be mcap or sqlite3, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} already exists; choose another --out")
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._label_info: dict[str, tuple[Any, ...]] = {}  # topic -> what its last LabelInfo said

    def __enter__(self) -> "ImageBagWriter":
        self.writer.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.close()

    def _connection(self, topic: str, msgtype: str) -> Any:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self.counts[topic] = 0
        return self.connections[topic]

    @staticmethod
    def _header(stamp: float, frame_id: str) -> Any:
        Header = TYPESTORE.types["std_msgs/msg/Header"]
        Time = TYPESTORE.types["builtin_interfaces/msg/Time"]
        sec = int(np.floor(stamp))
        nsec = int(round((stamp - sec) * 1e9))
        if nsec >= 1_000_000_000:
            sec, nsec = sec + 1, nsec - 1_000_000_000
        return Header(stamp=Time(sec=sec, nanosec=nsec), frame_id=frame_id)

    def write_image(self, topic: str, arr: np.ndarray, encoding: str, stamp: float, frame_id: str,
                    bag_time_ns: int | None = None) -> None:
        f = array_to_image_fields(arr, encoding)
        Image = TYPESTORE.types[IMAGE]
        msg = Image(header=self._header(stamp, frame_id), height=f["height"], width=f["width"],
                    encoding=f["encoding"], is_bigendian=f["is_bigendian"], step=f["step"],
                    data=np.frombuffer(f["data"], dtype=np.uint8))
        t = bag_time_ns if bag_time_ns is not None else int(round(stamp * 1e9))
        self.writer.write(self._connection(topic, IMAGE), t, TYPESTORE.serialize_cdr(msg, IMAGE))
        self.counts[topic] += 1

    def write_label_info(self, topic: str, class_map: list[tuple[int, str]], threshold: float, stamp: float,
                         frame_id: str, bag_time_ns: int | None = None) -> bool:
        """A vision_msgs/LabelInfo (``class_map``: id, name) on ``topic``, unless the last one there said the same
        (classes, threshold, frame): so a bag holds one at its start and one at each change, as the node publishes
        them. Returns whether it was written."""
        said = (tuple(class_map), float(threshold), frame_id)
        if self._label_info.get(topic) == said:
            return False
        VisionClass = TYPESTORE.types["vision_msgs/msg/VisionClass"]
        msg = TYPESTORE.types[LABEL_INFO](header=self._header(stamp, frame_id), threshold=float(threshold),
                                          class_map=[VisionClass(class_id=i, class_name=n) for i, n in class_map])
        t = bag_time_ns if bag_time_ns is not None else int(round(stamp * 1e9))
        self.writer.write(self._connection(topic, LABEL_INFO), t, TYPESTORE.serialize_cdr(msg, LABEL_INFO))
        self.counts[topic] += 1
        self._label_info[topic] = said
        return True

    def write_compressed(self, topic: str, arr: np.ndarray, fmt: str, stamp: float, frame_id: str,
                         bag_time_ns: int | None = None) -> None:
        """``arr`` in RGB order for colour; ``fmt`` "png" or "jpeg"."""
        img = arr[:, :, ::-1] if arr.ndim == 3 else arr
        ok, buf = cv2.imencode(".png" if fmt == "png" else ".jpg", img)
        if not ok:
            raise ValueError(f"could not encode a {arr.dtype} {arr.shape} image as {fmt}")
        self.write_encoded(topic, buf.tobytes(), fmt, stamp, frame_id, bag_time_ns)

    def write_encoded(self, topic: str, data: bytes, fmt: str, stamp: float, frame_id: str,
                      bag_time_ns: int | None = None) -> None:
        """A CompressedImage whose payload is already encoded (the node's compressed outputs, with the format
        string image_transport's plugin writes)."""
        Compressed = TYPESTORE.types[COMPRESSED]
        msg = Compressed(header=self._header(stamp, frame_id), format=fmt, data=np.frombuffer(data, np.uint8))
        t = bag_time_ns if bag_time_ns is not None else int(round(stamp * 1e9))
        self.writer.write(self._connection(topic, COMPRESSED), t, TYPESTORE.serialize_cdr(msg, COMPRESSED))
        self.counts[topic] += 1


def require_topics(path: str | Path, wanted: list[str], found: dict[str, str]) -> None:
    """:class:`BagError` naming the missing topics and listing what the bag has (topic -> message type)."""
    missing = [t for t in wanted if t not in found]
    if missing:
        listing = ", ".join(f"{t} ({m.rsplit('/', 1)[-1]})" for t, m in sorted(found.items())) or "none"
        raise BagError(f"{path}: topic(s) {', '.join(missing)} not in the bag; topics found: {listing}")


def _reader(path: Path):
    from rosbags.highlevel import AnyReader

    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    return AnyReader([path], default_typestore=TYPESTORE)


def _mcap_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.mcap")) if path.is_dir() else ([path] if path.suffix == ".mcap" else [])


def _salvage(path: Path) -> tuple[list[Any], str] | None:
    """For an MCAP bag rosbags cannot open (no footer): the complete messages and where it broke off."""
    from rgbt_seg_core.bags.mcap_salvage import salvage_mcap

    files = _mcap_files(path)
    if not files:
        return None
    msgs: list[Any] = []
    reasons = []
    for f in files:
        try:
            got, why = salvage_mcap(f)
        except (ValueError, OSError):
            return None
        msgs += got
        if why:
            reasons.append(f"{f.name}: {why}")
    return (msgs, "; ".join(reasons)) if reasons else None


def list_topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (message type, message count); for a truncated MCAP bag, what its complete records hold."""
    path = Path(path)
    try:
        with _reader(path) as reader:
            return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    except FileNotFoundError:
        raise
    except Exception as exc:  # rosbags raises several reader errors for damaged bags
        salvaged = _salvage(path)
        if salvaged is None:
            raise BagError(f"{path}: cannot open the bag ({type(exc).__name__}: {exc})") from exc
        out: dict[str, tuple[str, int]] = {}
        for m in salvaged[0]:
            out[m.topic] = (m.msgtype, out.get(m.topic, (m.msgtype, 0))[1] + 1)
        return out


def bag_span(path: str | Path) -> tuple[int, int] | None:
    """The bag time of its first message and one past its last (ns), from its metadata; None for an empty bag or
    one whose metadata cannot be read (a truncated MCAP file), which a caller then takes whole."""
    try:
        with _reader(Path(path)) as reader:
            return (int(reader.start_time), int(reader.end_time)) if reader.message_count else None
    except FileNotFoundError:
        raise
    except Exception:  # noqa: BLE001  (rosbags raises several reader errors for damaged bags; read whole instead)
        return None


def read_images(path: str | Path, topics: list[str], start_ns: int | None = None,
                stop_ns: int | None = None) -> Iterator[BagImage]:
    """Images of ``topics`` in bag-time order. Missing topics are a :class:`BagError` listing what the bag has.

    ``start_ns``/``stop_ns``: only messages whose bag time lies in [start_ns, stop_ns) (None: unbounded), read
    through the bag's index rather than from its start, so that a time shard of a long bag costs its own length.
    A bag that breaks off while reading raises :class:`BagError` after the messages read so far were yielded.
    """
    path = Path(path)
    try:
        reader = _reader(path)
        reader.open()
    except FileNotFoundError:
        raise
    except Exception as exc:
        salvaged = _salvage(path)
        if salvaged is None:
            raise BagError(f"{path}: cannot open the bag ({type(exc).__name__}: {exc})") from exc
        yield from _salvaged_images(path, salvaged[0], topics, start_ns, stop_ns)
        raise BagError(f"{path}: the bag is truncated ({salvaged[1]}); read what was complete") from exc
    try:
        found = {c.topic: c.msgtype for c in reader.connections}
        require_topics(path, topics, found)
        wrong = [t for t in topics if found[t] not in (IMAGE, COMPRESSED)]
        if wrong:
            kinds = ', '.join(f'{t} is {found[t]}' for t in wrong)
            raise BagError(f"{path}: {kinds}; expected Image or CompressedImage")
        conns = [c for c in reader.connections if c.topic in topics]
        it = reader.messages(connections=conns, start=start_ns, stop=stop_ns)
        while True:
            try:
                conn, t, raw = next(it)
                msg = reader.deserialize(raw, conn.msgtype)
            except StopIteration:
                return
            except Exception as exc:
                raise BagError(f"{path}: the bag is damaged or truncated ({type(exc).__name__}: {exc})") from exc
            ns = stamp_ns(msg)
            yield BagImage(conn.topic, t, ns * 1e-9, ns, msg.header.frame_id, msg)
    finally:
        try:
            reader.close()
        except Exception:
            pass


def _salvaged_images(path: Path, msgs: list[Any], topics: list[str], start_ns: int | None = None,
                     stop_ns: int | None = None) -> Iterator[BagImage]:
    require_topics(path, topics, {m.topic: m.msgtype for m in msgs})
    lo, hi = start_ns if start_ns is not None else -(1 << 63), stop_ns if stop_ns is not None else 1 << 63
    for m in sorted((m for m in msgs if m.topic in topics and lo <= m.log_time < hi), key=lambda m: m.log_time):
        msg = TYPESTORE.deserialize_cdr(m.data, m.msgtype)
        header = getattr(msg, "header", None)
        if not isinstance(header, Header):
            raise BagError(f"{path}: topic {m.topic} carries {m.msgtype}, a message without a std_msgs/Header")
        ns = stamp_ns(msg)
        yield BagImage(m.topic, m.log_time, ns * 1e-9, ns, header.frame_id, msg)
