"""File-level operations over the in-memory codec: reading inputs (paths or '-' for stdin), metadata
policy, rate control, atomic writes (never a partial or zero-byte output), and folders in batch."""
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import image_io
from .bitstream.container import DEFAULT_MAX_PIXELS
from .errors import InputError, UsageError, WriteError

STDIO = "-"


def read_bytes(src) -> bytes:
    if str(src) == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(src).read_bytes()
    except OSError as exc:
        raise InputError(f"{src}: {exc.strerror}") from None


def check_writable(path, overwrite: bool):
    """Refuse an existing output before any work is spent on it."""
    if str(path) != STDIO and Path(path).exists() and not overwrite:
        raise WriteError(f"{path} exists (use --force to overwrite)")


def write_atomically(path, data: bytes, overwrite: bool):
    """Write via a temporary file in the same folder and rename; '-' writes to stdout."""
    if str(path) == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    check_writable(path, overwrite)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.icisp-tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"{path}: {exc.strerror}") from None
    except BaseException:  # Ctrl-C mid-write: leave nothing behind
        tmp.unlink(missing_ok=True)
        raise


def load_input(src, keep_metadata=True) -> image_io.LoadedImage:
    if str(src) == STDIO:
        return image_io.load_image(io.BytesIO(read_bytes(src)), keep_metadata)
    return image_io.load_image(src, keep_metadata)


# --- rate control ------------------------------------------------------------------------------------
@dataclass
class RateSearch:
    lam: float
    data: bytes
    report: object
    tried: list = field(default_factory=list)  # (λ, bytes) in the order tried


def encode_to_size(codec, rgb, target_bytes, strict=False, iterations=10, **kw) -> RateSearch:
    """Bisection on log λ (the file size falls as λ grows) for the file closest to target_bytes; with
    strict, the largest file that does not exceed it (an error if even the smallest λ's file is larger)."""
    lo, hi = codec.lambda_range
    tried = []

    def attempt(lam):
        data, report = codec.encode(rgb, lam, **kw)
        tried.append((report.lam, len(data)))
        return RateSearch(report.lam, data, report, tried)

    best_fit = best_any = None
    a, b = math.log(lo), math.log(hi)
    for _ in range(iterations):
        result = attempt(math.exp((a + b) / 2))
        if len(result.data) > target_bytes:
            a = math.log(result.lam)
        else:
            b = math.log(result.lam)
            if best_fit is None or len(result.data) > len(best_fit.data):
                best_fit = result
        if best_any is None or abs(len(result.data) - target_bytes) < abs(len(best_any.data) - target_bytes):
            best_any = result
    if strict and best_fit is None:
        result = attempt(hi)
        if len(result.data) > target_bytes:
            raise UsageError(f"cannot reach {target_bytes} bytes: the smallest file at λ={hi:g} has "
                             f"{len(result.data)} bytes")
        best_fit = result
    return best_fit if strict else best_any


# --- single files -------------------------------------------------------------------------------------
def encode_file(codec, src, dst, lam=None, target_bpp=None, target_size=None, strict=False,
                pad_mode="replicate", keep_metadata=True, overwrite=False):
    """-> (report, notices). Exactly one of lam / target_bpp / target_size."""
    check_writable(dst, overwrite)
    loaded = load_input(src, keep_metadata)
    if target_bpp is not None or target_size is not None:
        pixels = loaded.rgb.shape[0] * loaded.rgb.shape[1]
        target = target_size if target_size is not None else int(target_bpp * pixels / 8)
        found = encode_to_size(codec, loaded.rgb, target, strict, pad_mode=pad_mode, metadata=loaded.metadata)
        data, report = found.data, found.report
        loaded.notices.append(f"rate control chose λ={found.lam:.4g} after {len(found.tried)} trial encodes")
    else:
        data, report = codec.encode(loaded.rgb, lam, pad_mode=pad_mode, metadata=loaded.metadata)
    write_atomically(dst, data, overwrite)
    return report, loaded.notices


def decode_file(codec, src, dst, max_pixels=None, keep_metadata=True, overwrite=False, format=None):
    check_writable(dst, overwrite)
    data = read_bytes(src)
    rgb, report = codec.decode(data, max_pixels or DEFAULT_MAX_PIXELS)
    metadata = report.extra["container"].metadata if keep_metadata else {}
    fmt = format or (image_io.output_format(dst) if str(dst) != STDIO else "PNG")
    write_atomically(dst, image_io.encode_image(rgb, fmt, metadata), overwrite)
    return report

