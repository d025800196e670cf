"""Byte layout of a .icisp file (specified in docs/bitstream.md). Standard library only, so `icisp info`
and any tool can read headers without torch.

All integers little-endian. A parser checks lengths before it slices and the CRC before it trusts anything,
and refuses declared sizes above a pixel limit before any large allocation happens downstream.
"""
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import CorruptFile

MAGIC = b"ICSP"
FORMAT_VERSION = 1
DEFAULT_MAX_PIXELS = 1 << 28  # 268 MP, as avifdec's default size limit

PAD_MODES = ("zero", "replicate")
CONTEXT_PATHS = ("float", "integer")

_FIXED = struct.Struct("<4sBB")  # magic, version, flags
_BODY = struct.Struct("<8sfIIBHH")  # weights id, lambda, width, height, pad mode, z height, z width


@dataclass
class Container:
    model: str  # configuration name, e.g. "lite"
    weights_id: bytes  # first 8 bytes of the weights file's SHA-256
    lam: float  # rate weight the file was coded at (float32)
    width: int
    height: int
    pad_mode: str
    z_height: int
    z_width: int
    context_path: str = "float"
    substreams: dict = field(default_factory=dict)  # tag (str, 1 char) -> bytes, in file order
    metadata: dict = field(default_factory=dict)  # tag (str, 4 chars) -> bytes (ICC profile, EXIF, ...)
    symbol_crc: int = 0

    @property
    def payload_bytes(self) -> int:
        return sum(len(s) for s in self.substreams.values())

    def describe(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "weights_id": self.weights_id.hex(),
            "lambda": round(self.lam, 6),
            "width": self.width,
            "height": self.height,
            "pad_mode": self.pad_mode,
            "hyper_latent_size": [self.z_height, self.z_width],
            "context_path": self.context_path,
            "substreams": {tag: len(data) for tag, data in self.substreams.items()},
            "metadata": {tag: len(data) for tag, data in self.metadata.items()},
            "symbol_crc32": f"{self.symbol_crc:08x}",
        }


def _chunks(items, tag_size):
    out = [struct.pack("<B", len(items))]
    for tag, data in items.items():
        out.append(tag.encode("ascii").ljust(tag_size, b" ")[:tag_size] + struct.pack("<I", len(data)) + data)
    return b"".join(out)


def serialize(c: Container) -> bytes:
    flags = CONTEXT_PATHS.index(c.context_path)
    model = c.model.encode("ascii")
    out = bytearray(_FIXED.pack(MAGIC, FORMAT_VERSION, flags))
    out += struct.pack("<B", len(model)) + model
    out += _BODY.pack(c.weights_id, c.lam, c.width, c.height, PAD_MODES.index(c.pad_mode), c.z_height, c.z_width)
    out += _chunks(c.metadata, 4)
    out += _chunks(c.substreams, 1)
    out += struct.pack("<I", c.symbol_crc)
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise CorruptFile("truncated .icisp file")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt):
        return fmt.unpack(self.take(fmt.size))

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def chunks(self, tag_size):
        items = {}
        for _ in range(self.u8()):
            tag = self.take(tag_size).decode("ascii", "replace").rstrip(" ")
            items[tag] = self.take(self.u32())
        return items


def parse(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Container:
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise CorruptFile("not an .icisp file (wrong magic bytes)")
    r = _Reader(data)
    _, version, flags = r.unpack(_FIXED)
    if version != FORMAT_VERSION:
        raise CorruptFile(f"format version {version} is not supported by this decoder (it reads {FORMAT_VERSION})")
    if len(data) < 8 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise CorruptFile("file is corrupt or truncated (CRC mismatch)")
    if flags >= len(CONTEXT_PATHS):
        raise CorruptFile(f"unknown context-path flag {flags}")
    model = r.take(r.u8()).decode("ascii", "replace")
    weights_id, lam, width, height, pad, zh, zw = r.unpack(_BODY)
    if pad >= len(PAD_MODES):
        raise CorruptFile(f"unknown padding mode {pad}")
    if width == 0 or height == 0:
        raise CorruptFile("image has zero width or height")
    if width * height > max_pixels:
        raise CorruptFile(f"image of {width}x{height} exceeds the limit of {max_pixels} pixels (--max-pixels)")
    metadata = r.chunks(4)
    substreams = r.chunks(1)
    symbol_crc = r.u32()
    if r.pos != len(data) - 4:
        raise CorruptFile("trailing bytes after the last substream")
    return Container(
        model=model,
        weights_id=weights_id,
        lam=lam,
        width=width,
        height=height,
        pad_mode=PAD_MODES[pad],
        z_height=zh,
        z_width=zw,
        context_path=CONTEXT_PATHS[flags],
        substreams=substreams,
        metadata=metadata,
        symbol_crc=symbol_crc,
    )
