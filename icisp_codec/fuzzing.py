"""Mutation fuzzing of the decoder: shared by the test suite (a few hundred cases) and
benchmarks/fuzz.py (10,000+). A decoder may refuse a file only with an IcispError; anything else (a crash,
another exception type) is a bug."""
import random
import struct
import zlib

from .errors import IcispError


def mutate(data: bytes, rng: random.Random, fix_crc: bool) -> bytes:
    """Flip, overwrite, insert, delete or truncate bytes; with fix_crc, recompute the file CRC so that the
    damage reaches the parser's field checks and the entropy decoder."""
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
    if fix_crc and len(buf) >= 8:
        buf[-4:] = struct.pack("<I", zlib.crc32(bytes(buf[:-4])))
    return bytes(buf)


def fuzz(codec, seed_files, cases, seed=0, max_pixels=1 << 22):
    """Decode `cases` mutants; returns (counts by outcome, list of (mutant, exception) for bugs)."""
    rng = random.Random(seed)
    counts, bugs = {}, []
    for _ in range(cases):
        data = mutate(rng.choice(seed_files), rng, fix_crc=rng.random() < 0.7)
        try:
            codec.decode(data, max_pixels=max_pixels)
            outcome = "decoded"
        except IcispError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - the point is to catch whatever is not an IcispError
            outcome = "bug"
            bugs.append((data, exc))
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts, bugs
