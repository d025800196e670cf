"""Mutation fuzzing of the decoder: shared by the test suite (a few hundred cases) and benchmarks/fuzz.py
(10,000+). A decoder may refuse a file only with an IcispError; anything else (a crash, another exception
type, an internal error) is a bug.

Two kinds of mutants: byte-level damage (flips, inserts, deletes, truncation; the file CRC recomputed for
most, so the damage reaches the parser's field checks and the entropy decoder), and structure-aware ones:
header fields, the tile table, substream lengths and contents, metadata chunks and λ changed through the
container itself, so that every checksum is valid and only the decoder's own checks stand in the way.
"""
import io
import math
import random
import struct
import time
import zlib

from .bitstream import parse, serialize
from .errors import IcispError
from .geometry import tile_count, valid_tile_size


def mutate_bytes(data: bytes, rng: random.Random, fix_crc: bool) -> bytes:
    """Flip, overwrite, insert, delete or truncate bytes; with fix_crc, recompute the file CRC."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "byte", "insert", "delete", "truncate", "word"))
        pos = rng.randrange(max(1, len(buf)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == "byte" and buf:
            buf[pos] = rng.randrange(256)
        elif op == "insert":
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == "delete" and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == "truncate":
            del buf[pos:]
        elif op == "word" and len(buf) >= 4:
            p = rng.randrange(len(buf) - 3)
            buf[p : p + 4] = struct.pack("<I", rng.choice((0, 1, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << 32))))
    return _with_crc(buf) if fix_crc else bytes(buf)


def _with_crc(buf):
    buf = bytearray(buf)
    if len(buf) >= 8:
        buf[-4:] = struct.pack("<I", zlib.crc32(bytes(buf[:-4])))
    return bytes(buf)


def _png(size, mode="L"):
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


_SIZES = (0, 1, 2, 15, 16, 17, 63, 64, 65, 255, 1024, 4097, 65535, 1 << 20, 1 << 31, (1 << 32) - 1)


def mutate_structure(data: bytes, rng: random.Random) -> bytes:
    """One or two field-level changes made through the container, every checksum valid."""
    c = parse(data)
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(("size", "size+tiles", "lambda", "tile size", "substream", "swap", "chunk", "alpha",
                         "symbol crc", "model"))
        if op in ("size", "size+tiles"):
            setattr(c, rng.choice(("width", "height")), rng.choice(_SIZES + (rng.randrange(1, 5000),)))
            if op == "size+tiles" and 0 < c.width * c.height < 1 << 26 and valid_tile_size(c.tile_latents):
                count = tile_count(c.width, c.height, c.tile_latents)
                c.tiles = [c.tiles[i % len(c.tiles)] if c.tiles else (b"", b"") for i in range(min(count, 4096))]
        elif op == "lambda":
            c.lam = rng.choice((math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-30, 0.999, 1.0, 2.5, 5.0, 5.001,
                                1e30, rng.uniform(0, 10)))
        elif op == "tile size":
            c.tile_latents = rng.choice((0, 1, 3, 4, 8, 12, 64, 4096, 65532, 65535))
        elif op == "substream" and c.tiles:
            i, which = rng.randrange(len(c.tiles)), rng.randrange(2)
            tile = list(c.tiles[i])
            stream = tile[which]
            tile[which] = rng.choice((b"", stream[: rng.randrange(len(stream) + 1)],
                                      stream + bytes(4 * rng.randint(1, 64)),
                                      bytes(rng.randrange(256) for _ in range(len(stream))),
                                      stream[:-1] if stream else b"x"))
            c.tiles[i] = tuple(tile)
        elif op == "swap" and c.tiles:
            c.tiles = [(y, z) for z, y in c.tiles]
        elif op == "chunk":
            tag = rng.choice(("ICCP", "ICCZ", "SRGB", "EXIF", "EXFZ", "XMP ", "ALPH", "ZZZZ"))
            if rng.random() < 0.3:  # valid zlib, inflating to far more than it holds
                c.metadata[tag] = zlib.compress(bytes(rng.choice((1 << 10, 1 << 20, 1 << 25))))
            else:
                c.metadata[tag] = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 16, 700))))
        elif op == "alpha" and 0 < c.width * c.height <= 1 << 20:
            size = (c.width, c.height)
            c.metadata["ALPH"] = rng.choice((_png(size), _png((5, 5)), _png(size, "RGB"), _png(size)[:40]))
        elif op == "symbol crc":
            c.symbol_crc = rng.randrange(1 << 32)
        elif op == "model":
            c.model = rng.choice(("lite", "paper", "tiny", "", "x" * 255))
    try:
        return serialize(c)
    except (struct.error, ValueError, OverflowError):  # a field beyond what the format can hold
        return data


def decode_to_file(codec, data, max_pixels):
    """What `icisp decode` does with the bytes: decode, then write the image with its metadata."""
    from .image_io import encode_image

    rgb, report = codec.decode(data, max_pixels=max_pixels)
    encode_image(rgb, "PNG", report.extra["container"].metadata)


def fuzz(codec, seed_files, cases, seed=0, max_pixels=1 << 20, structured=0.5):
    """Decode `cases` mutants. Returns (counts by outcome, [(mutant, exception)] for bugs, slowest seconds)."""
    rng = random.Random(seed)
    counts, bugs, slowest = {}, [], 0.0
    for _ in range(cases):
        source = rng.choice(seed_files)
        if rng.random() < structured:
            data = mutate_structure(source, rng)
        else:
            data = mutate_bytes(source, rng, fix_crc=rng.random() < 0.7)
        start = time.perf_counter()
        try:
            decode_to_file(codec, data, max_pixels)
            outcome = "decoded"
        except IcispError as exc:
            outcome = type(exc).__name__
            if str(exc).startswith("internal error"):
                outcome = "bug"
                bugs.append((data, exc))
        except Exception as exc:  # noqa: BLE001 - the point is to catch whatever is not an IcispError
            outcome = "bug"
            bugs.append((data, exc))
        slowest = max(slowest, time.perf_counter() - start)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts, bugs, slowest
