"""The size a PNG or JPEG declares, read from its header before anything is decoded.

So an oversized or malformed compressed frame is refused without the decoder allocating its full-size buffer:
PNG's IHDR chunk (the first chunk, CRC-checked here) and JPEG's SOFn segment (which must come before the first
scan; a JPEG without one is corrupt). A JPEG must also end its scan with an EOI marker: without it the data was
cut short, and some libjpeg builds would decode the missing rows as grey without saying so.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from rgbt_seg_core.runtime.imageconv.encodings import ImageFormatError

__all__ = ["ContainerHeader", "PNG_SIGNATURE", "png_header", "jpeg_header", "read_header"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> samples a pixel (palette: 3 once expanded)
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_MAX_SIDE = 2**31 - 1  # PNG's own limit on width and height
# SOF0-SOF15 without DHT (C4), JPG (C8) and DAC (CC), which share the range
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA


@dataclass(frozen=True)
class ContainerHeader:
    codec: str  # "png" or "jpeg"
    height: int
    width: int
    channels: int  # as stored: PNG by colour type, JPEG by component count
    bits: int  # PNG bit depth, JPEG sample precision


def png_header(data: bytes) -> ContainerHeader:
    """The IHDR of a PNG (``data`` starts with the signature)."""
    if len(data) < 33:
        raise ImageFormatError(f"PNG of {len(data)} bytes is too short to hold its IHDR header")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ImageFormatError("PNG does not start with an IHDR chunk of 13 bytes; corrupt")
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        raise ImageFormatError("PNG IHDR checksum does not match; corrupt")
    width, height, bits, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ImageFormatError(f"PNG declares an impossible size {width}x{height}")
    if bits not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise ImageFormatError(f"PNG IHDR is invalid (colour type {colour}, bit depth {bits}); corrupt")
    return ContainerHeader("png", height, width, _PNG_CHANNELS[colour], bits)


def _jpeg_segments(data: bytes):
    """(marker, payload start, payload end) of each segment from SOI up to and including the first SOS."""
    pos, n = 2, len(data)
    while True:
        if pos >= n or data[pos] != 0xFF:
            raise ImageFormatError(f"JPEG has no marker at byte {pos} before its first scan; corrupt or truncated")
        while pos < n and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= n:
            raise ImageFormatError("JPEG ends inside a marker; truncated")
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0x00, _SOI, _EOI):
            raise ImageFormatError(f"JPEG has marker 0x{marker:02X} before its first scan; corrupt")
        if pos + 2 > n:
            raise ImageFormatError("JPEG ends inside a segment length; truncated")
        end = pos + struct.unpack(">H", data[pos:pos + 2])[0]
        if end < pos + 2 or end > n:
            raise ImageFormatError(f"JPEG segment 0x{marker:02X} runs past the end of the data; truncated")
        yield marker, pos + 2, end
        if marker == _SOS:
            return
        pos = end


def jpeg_header(data: bytes) -> ContainerHeader:
    """The frame header (SOFn) of a JPEG (``data`` starts with SOI), after checking the stream is complete."""
    sof: ContainerHeader | None = None
    scan_start = 0
    for marker, start, end in _jpeg_segments(data):
        if marker in _JPEG_SOF:
            if sof is not None:
                raise ImageFormatError("JPEG has two frame headers (SOF); corrupt")
            if end - start < 6:
                raise ImageFormatError("JPEG frame header (SOF) is too short; corrupt")
            bits, height, width, components = struct.unpack(">BHHB", data[start:start + 6])
            if height == 0 or width == 0 or not 1 <= components <= 4:
                raise ImageFormatError(f"JPEG frame header declares {width}x{height} with {components} components "
                                       "(a height set later by DNL is not supported); corrupt")
            sof = ContainerHeader("jpeg", height, width, components, bits)
        elif marker == _SOS:
            scan_start = end
    if sof is None:
        raise ImageFormatError("JPEG has no frame header (SOF) before its first scan; corrupt")
    if data.rfind(b"\xff\xd9", scan_start) < 0:
        raise ImageFormatError("JPEG has no end-of-image marker after its scan; truncated")
    return sof


def read_header(data: bytes) -> ContainerHeader:
    """The header of a PNG or JPEG, told apart by their signatures; anything else is refused."""
    if data[:8] == PNG_SIGNATURE:
        return png_header(data)
    if data[:3] == b"\xff\xd8\xff":
        return jpeg_header(data)
    raise ImageFormatError(f"compressed payload is neither PNG nor JPEG (starts with {data[:8].hex() or 'nothing'})")
