"""Files around the in-memory codec: inputs (paths, or '-' for stdin), outputs written so that nothing is
ever lost, and the single-file encode and decode the commands and batch runs share.

Writing an output: it is refused when it is the input itself (also through links or '..'), when it exists
without --force, and when stdout is a terminal for binary data. The bytes go to a temporary file created
exclusively (a unique name, O_EXCL, never following a link) in the output's folder, which is then renamed
onto the output, or hard-linked to it without --force so that a file appearing meanwhile is not replaced.
An interrupted or failed write leaves no partial file.
"""
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

from .. import image_io
from ..bitstream import parse
from ..bitstream.container import DEFAULT_MAX_PIXELS
from ..errors import IcispError, InputError, UsageError, WriteError
from ..model.config import DEFAULT_EFFORT
from .rate_control import encode_to_size

STDIO = "-"


def display_name(src) -> str:
    return "<stdin>" if str(src) == STDIO else str(src)


@contextlib.contextmanager
def named(src):
    """Errors raised inside say which input they are about."""
    try:
        yield
    except IcispError as exc:
        name = display_name(src)
        if not str(exc).startswith(name):
            exc.args = (f"{name}: {exc}",)
        raise


def read_bytes(src) -> bytes:
    if str(src) == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(src).read_bytes()
    except OSError as exc:
        raise InputError(f"{src}: {exc.strerror}") from None


def _same_file(a, b) -> bool:
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def check_output(dst, overwrite: bool, source=None):
    """Refuse an output before any work is spent on it (see the module docstring)."""
    if str(dst) == STDIO:
        if sys.stdout.isatty():
            raise UsageError("refusing to write binary data to a terminal: redirect stdout or name an output file")
        return
    path = Path(dst)
    if source is not None and str(source) != STDIO and _same_file(source, path):
        raise WriteError(f"{dst} is the input file: refusing to overwrite it")
    if path.is_dir():
        raise WriteError(f"{dst} is a folder")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise WriteError(f"{dst} exists (use --force to overwrite)")


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_output(dst, data: bytes, overwrite: bool, source=None):
    """Write data to dst (a path, or '-' for stdout) safely: see the module docstring."""
    check_output(dst, overwrite, source)
    if str(dst) == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(dst)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".icisp-tmp")
    except OSError as exc:
        raise WriteError(f"{dst}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # as a plain open() would have made it
        _move_into_place(tmp, path, overwrite)
    except BaseException as exc:  # a failed write or Ctrl-C: leave nothing behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(f"{dst}: {exc.strerror or exc}") from None
        raise


def _move_into_place(tmp, path, overwrite):
    if overwrite:
        os.replace(tmp, path)  # replaces a link itself, never what it points to
        return
    try:
        os.link(tmp, path)  # fails if the output appeared since it was checked
    except FileExistsError:
        raise WriteError(f"{path} exists (use --force to overwrite)") from None
    except OSError:  # a file system without hard links: the check above has to do
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def load_input(src, keep_metadata=True, exact_icc=False) -> image_io.LoadedImage:
    if str(src) == STDIO:
        return image_io.load_image(io.BytesIO(read_bytes(src)), keep_metadata, display_name(src), exact_icc)
    return image_io.load_image(src, keep_metadata, exact_icc=exact_icc)


# --- single files -------------------------------------------------------------------------------------
def encode_file(codecs, src, dst, lam=None, target_bpp=None, target_size=None, strict=False, effort=DEFAULT_EFFORT,
                pad_mode="replicate", keep_metadata=True, exact_icc=False, overwrite=False):
    """-> Report (with its notices). codecs: a selection.Codecs; exactly one of lam / target_bpp /
    target_size."""
    with named(src):
        check_output(dst, overwrite, src)
        loaded = load_input(src, keep_metadata, exact_icc)
        options = {"effort": effort, "pad_mode": pad_mode, "metadata": loaded.metadata}
        return _encode_loaded(codecs, loaded, src, dst, lam, target_bpp, target_size, strict, options, overwrite)


def _encode_loaded(codecs, loaded, src, dst, lam, target_bpp, target_size, strict, options, overwrite):
    if target_bpp is not None or target_size is not None:
        pixels = loaded.rgb.shape[0] * loaded.rgb.shape[1]
        target = target_size if target_size is not None else max(1, int(target_bpp * pixels / 8))
        data, report = encode_to_size(codecs.for_search(), loaded.rgb, target, strict, **options)
    else:
        data, report = codecs.for_rate(lam).encode(loaded.rgb, lam, **options)
    write_output(dst, data, overwrite, src)
    report.notices[:0] = loaded.notices
    return report


def decode_file(codecs, src, dst, max_pixels=None, keep_metadata=True, overwrite=False, format=None):
    """-> Report (with its notices). codecs: a selection.Codecs; the weights are the file's own."""
    with named(src):
        return _decode_file(codecs, src, dst, max_pixels, keep_metadata, overwrite, format)


def _decode_file(codecs, src, dst, max_pixels, keep_metadata, overwrite, format):
    check_output(dst, overwrite, src)
    data = read_bytes(src)
    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    codec = codecs.for_file(parse(data, max_pixels=max_pixels))
    rgb, report = codec.decode(data, max_pixels)
    metadata = report.extra["container"].metadata if keep_metadata else {}
    fmt = format or (image_io.output_format(dst) if str(dst) != STDIO else "PNG")
    image, report.notices = image_io.encode_image(rgb, fmt, metadata)
    write_output(dst, image, overwrite, src)
    return report
