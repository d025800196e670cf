"""Byte layout of a .icisp file (specified in docs/bitstream.md). Standard library only, so `icisp info`
and any tool can read headers without torch.

All integers little-endian. A parser checks lengths before it slices and the CRC before it trusts anything,
and refuses declared sizes above a pixel limit before any large allocation happens downstream.
"""
import math
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import CorruptFile
from ..geometry import padded_size, tile_count, valid_tile_size

MAGIC = b"ICSP"
FORMAT_VERSION = 2
DEFAULT_MAX_PIXELS = 1 << 28  # 268 MP, as avifdec's default size limit; checked on the padded size

PAD_MODES = ("zero", "replicate")
CONTEXT_PATHS = ("float", "integer")

_FIXED = struct.Struct("<4sBB")  # magic, version, flags
_BODY = struct.Struct("<8sfIIBH")  # weights id, lambda, width, height, pad mode, coding tile size (latents)


@dataclass
class Container:
    model: str  # configuration name, e.g. "lite"
    weights_id: bytes  # first 8 bytes of the weights file's SHA-256
    lam: float  # rate weight the file was coded at (float32)
    width: int
    height: int
    pad_mode: str
    tile_latents: int  # side of a coding tile, in latents (multiple of 4)
    context_path: str = "float"
    tiles: list = field(default_factory=list)  # [(z substream, y substream), ...] in raster order
    metadata: dict = field(default_factory=dict)  # tag (str, 4 chars) -> bytes (ICC profile, EXIF, ...)
    symbol_crc: int = 0

    @property
    def payload_bytes(self) -> int:
        return sum(len(z) + len(y) for z, y in self.tiles)

    def describe(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "weights_id": self.weights_id.hex(),
            "lambda": round(self.lam, 6),
            "width": self.width,
            "height": self.height,
            "pad_mode": self.pad_mode,
            "tile_latents": self.tile_latents,
            "context_path": self.context_path,
            "tiles": len(self.tiles),
            "substreams": {"z": sum(len(z) for z, _ in self.tiles), "y": sum(len(y) for _, y in self.tiles)},
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
    out += _BODY.pack(c.weights_id, c.lam, c.width, c.height, PAD_MODES.index(c.pad_mode), c.tile_latents)
    out += _chunks(c.metadata, 4)
    out += struct.pack("<I", len(c.tiles))
    for substreams in c.tiles:
        for data in substreams:
            out += struct.pack("<I", len(data)) + data
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
    weights_id, lam, width, height, pad, tile_latents = r.unpack(_BODY)
    if pad >= len(PAD_MODES):
        raise CorruptFile(f"unknown padding mode {pad}")
    if width == 0 or height == 0:
        raise CorruptFile("image has zero width or height")
    rows, cols = padded_size(height, width)  # what the decoder allocates and computes
    if rows * cols > max_pixels:
        raise CorruptFile(f"image of {width}x{height} ({cols}x{rows} padded) exceeds the limit of {max_pixels} "
                          f"pixels (--max-pixels)")
    if not (math.isfinite(lam) and lam > 0):
        raise CorruptFile(f"rate weight λ={lam} in the header is not a positive number")
    if not valid_tile_size(tile_latents):
        raise CorruptFile(f"coding tile size {tile_latents} is not a positive multiple of 4")
    metadata = r.chunks(4)
    count = r.u32()
    if count != tile_count(width, height, tile_latents):
        raise CorruptFile(f"{count} tiles where a {width}x{height} image has {tile_count(width, height, tile_latents)}")
    tiles = [(r.take(r.u32()), r.take(r.u32())) for _ in range(count)]
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
        tile_latents=tile_latents,
        context_path=CONTEXT_PATHS[flags],
        tiles=tiles,
        metadata=metadata,
        symbol_crc=symbol_crc,
    )
