"""Reading what a truncated MCAP file still holds (a recorder that crashed leaves no footer or index).

rosbags needs the footer to open an MCAP file. This reader walks the records from the start instead: schemas,
channels and messages, inside uncompressed, zstd or lz4 chunks, until the data runs out. It yields the complete
messages it finds and then reports where the file broke off.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["SalvagedMessage", "salvage_mcap", "MAGIC"]

MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x03, 0x04, 0x05, 0x06


@dataclass
class SalvagedMessage:
    topic: str
    msgtype: str
    log_time: int
    data: bytes


class Truncated(Exception):
    def __init__(self, offset: int, size: int) -> None:
        super().__init__(f"file breaks off inside the record at byte {offset} of {size}")


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    n = struct.unpack_from("<I", buf, pos)[0]
    return buf[pos + 4 : pos + 4 + n].decode("utf-8", "replace"), pos + 4 + n


def _decompress(kind: str, data: bytes, size: int) -> bytes:
    if kind == "":
        return data
    if kind == "zstd":
        if sys.version_info >= (3, 14):
            try:
                from compression import zstd
            except ImportError:  # a Python built without libzstd
                from backports import zstd  # installed with rosbags
        else:
            from backports import zstd
        return zstd.decompress(data)
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise ValueError(f"unsupported MCAP chunk compression {kind!r}")


def _records(buf: bytes, start: int, schemas: dict[int, str], channels: dict[int, tuple[str, int]]
             ) -> Iterator[SalvagedMessage]:
    pos, end = start, len(buf)
    while pos < end:
        if pos + 9 > end:
            raise Truncated(pos, end)
        op = buf[pos]
        length = struct.unpack_from("<Q", buf, pos + 1)[0]
        body = pos + 9
        if body + length > end:
            if op == OP_CHUNK and body + 40 <= end:
                yield from _partial_chunk(buf, body, schemas, channels)
            raise Truncated(pos, end)
        if op == OP_SCHEMA:
            sid = struct.unpack_from("<H", buf, body)[0]
            name, _ = _string(buf, body + 2)
            schemas[sid] = name
        elif op == OP_CHANNEL:
            cid, sid = struct.unpack_from("<HH", buf, body)
            topic, _ = _string(buf, body + 4)
            channels[cid] = (topic, sid)
        elif op == OP_MESSAGE:
            cid = struct.unpack_from("<H", buf, body)[0]
            log_time = struct.unpack_from("<Q", buf, body + 6)[0]
            topic, sid = channels.get(cid, ("", 0))
            yield SalvagedMessage(topic, schemas.get(sid, ""), log_time, buf[body + 22 : body + length])
        elif op == OP_CHUNK:
            size = struct.unpack_from("<Q", buf, body + 16)[0]
            kind, p = _string(buf, body + 28)
            n = struct.unpack_from("<Q", buf, p)[0]
            inner = _decompress(kind, buf[p + 8 : p + 8 + n], size)
            msgs = list(_records(inner, 0, schemas, channels))
            yield from sorted(msgs, key=lambda m: m.log_time)
        pos = body + length


def _partial_chunk(buf: bytes, body: int, schemas: dict[int, str], channels: dict[int, tuple[str, int]]
                   ) -> Iterator[SalvagedMessage]:
    """The complete records at the start of a chunk cut short; only an uncompressed chunk can be read so."""
    kind, p = _string(buf, body + 28)
    if kind != "" or p + 8 > len(buf):
        return
    msgs: list[SalvagedMessage] = []
    try:
        for m in _records(buf[p + 8 :], 0, schemas, channels):
            msgs.append(m)
    except (Truncated, struct.error):
        pass
    yield from sorted(msgs, key=lambda m: m.log_time)


def salvage_mcap(path: str | Path) -> tuple[list[SalvagedMessage], str | None]:
    """All complete messages in file order, and why reading stopped early (None if the file ended cleanly)."""
    buf = Path(path).read_bytes()
    if not buf.startswith(MAGIC):
        raise ValueError(f"{path}: not an MCAP file (bad magic)")
    out: list[SalvagedMessage] = []
    try:
        for m in _records(buf, len(MAGIC), {}, {}):
            out.append(m)
    except Truncated as exc:
        return out, str(exc)
    except (struct.error, ValueError, OSError) as exc:
        return out, f"unreadable record ({exc})"
    return out, None
