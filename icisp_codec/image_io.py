"""Image files <-> uint8 RGB arrays <-> padded float tensors, and back.

Reading and writing go through Pillow. Torch is imported only by the tensor helpers, so reading headers
and listing files stays light.
"""
import errno
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from . import metadata as chunks
from .errors import InputError, UnsupportedInput, WriteError
from .geometry import padded_size

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".bmp"}


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    metadata: dict = field(default_factory=dict)  # container chunks: colour profile, EXIF, alpha (metadata.py)
    notices: list = field(default_factory=list)  # one line per conversion that was made


def _open(path, name=None):
    """Open and decode an image file (or file object); `name` is what messages call it."""
    name = name or path
    try:
        im = Image.open(path)
        im.load()
        return im
    except Image.DecompressionBombError as exc:
        raise UnsupportedInput(f"{name}: {exc}") from None
    except OSError as exc:
        if exc.errno is not None:  # the file system's refusal (missing, a folder, a loop, no permission, ...)
            reason = "no such file" if exc.errno == errno.ENOENT else exc.strerror
            raise InputError(f"{name}: {reason}") from None
        raise UnsupportedInput(f"{name}: cannot read as an image ({exc})") from None
    except (SyntaxError, ValueError) as exc:
        raise UnsupportedInput(f"{name}: cannot read as an image ({exc})") from None


def _to_8_bits(im, name):
    """A high-precision single-channel image (16/32-bit integer, float) as 8-bit grayscale, scaled by the
    range its values actually use: [0, 1] floats and 16-bit integers are the conventions met in practice."""
    values = np.asarray(im, dtype=np.float64)
    if not np.isfinite(values).all():
        raise UnsupportedInput(f"{name}: the image holds non-finite values (NaN or infinity)")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low < 0 or high > 65535:
        raise UnsupportedInput(f"{name}: pixel values span [{low:g}, {high:g}], not a range icisp knows "
                               f"(0-1, 0-255 or 0-65535); convert the image to 8 or 16 bits first")
    if im.mode == "F" and high <= 1.0:
        scale, span = 255.0, "[0, 1]"
    elif high <= 255 and im.mode not in ("I;16", "I;16B", "I;16L", "I;16N"):
        scale, span = 1.0, "[0, 255]"
    else:
        scale, span = 255.0 / 65535.0, "[0, 65535]"
    notice = f"values read as {span} and reduced to 8 bits per channel"
    return Image.fromarray(np.round(values * scale).clip(0, 255).astype(np.uint8)), notice


def load_image(path, keep_metadata=True, name=None, exact_icc=False) -> LoadedImage:
    """Read the first frame of an image as 8-bit RGB, with its colour profile, EXIF and alpha channel as
    metadata chunks (metadata.py; alpha is carried losslessly), and a notice for every conversion made."""
    name = name or path
    im = _open(path, name)
    notices, alpha_png = [], None
    if getattr(im, "n_frames", 1) > 1:
        notices.append(f"animated image: only the first of {im.n_frames} frames is coded")
    icc = im.info.get("icc_profile") if keep_metadata else None
    exif = im.getexif().tobytes() if keep_metadata and len(im.getexif()) else None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() != (255, 255):
            buffer = io.BytesIO()
            alpha.save(buffer, "PNG", optimize=True)
            alpha_png = buffer.getvalue()
            notices.append("alpha channel carried losslessly in its own chunk")
        im = rgba.convert("RGB")
    elif im.mode != "RGB":
        kind = {"L": "grayscale", "P": "palette", "CMYK": "CMYK", "I;16": "16-bit", "I": "32-bit integer",
                "F": "floating-point", "1": "bilevel"}.get(im.mode, im.mode)
        if im.mode.startswith("I") or im.mode == "F":
            im, notice = _to_8_bits(im, name)
            notices.append(f"{kind} image: {notice}")
        notices.append(f"{kind} image converted to RGB")
        im = im.convert("RGB")
    metadata = chunks.pack(icc, exif, alpha_png, exact_icc)
    if chunks.SRGB in metadata:
        notices.append("colour profile equivalent to sRGB: stored as a one-byte sRGB tag (--exact-icc keeps its bytes)")
    return LoadedImage(np.asarray(im, dtype=np.uint8).copy(), metadata, notices)


def load_rgb(path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 array (first frame; converted to 8-bit RGB)."""
    return load_image(path, keep_metadata=False).rgb


def encode_image(rgb: np.ndarray, format: str, metadata=None):
    """-> (bytes, notices): an image in a Pillow format, restoring the colour profile, EXIF and alpha where
    the format can hold them."""
    metadata, notices = metadata or {}, []
    im = Image.fromarray(rgb, mode="RGB")
    alpha = chunks.alpha(metadata, im.size)
    if alpha is not None and format in ("PNG", "WEBP", "TIFF"):
        im.putalpha(alpha)
    options = {}
    icc = chunks.icc_profile(metadata)
    if icc:
        options["icc_profile"] = icc
    exif = chunks.exif(metadata)
    if exif and format in ("PNG", "JPEG", "WEBP", "TIFF"):
        if format == "JPEG" and len(exif) > chunks.JPEG_EXIF_LIMIT:
            notices.append(f"EXIF of {len(exif)} bytes dropped: JPEG holds at most {chunks.JPEG_EXIF_LIMIT}")
        else:
            options["exif"] = exif
    buffer = io.BytesIO()
    try:
        im.save(buffer, format=format, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise WriteError(f"cannot write {format}: {exc}") from None
    return buffer.getvalue(), notices


def save_rgb(array: np.ndarray, path, format=None) -> None:
    Image.fromarray(array, mode="RGB").save(path, format=format)


def output_format(path) -> str:
    """Pillow format name from an output file's extension (PNG when unknown)."""
    suffix = Path(path).suffix.lower()
    # Pillow's own order, as Image.save does it: the common formats first (preinit), every plugin (init,
    # about 0.1 s of imports) only for an extension they do not cover
    Image.preinit()
    if suffix not in Image.EXTENSION:
        Image.init()
    return Image.EXTENSION.get(suffix, "PNG")


def to_tensor(array: np.ndarray, device="cpu"):
    import torch

    return torch.from_numpy(array).to(device).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (tensor[0].float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def pad(x, multiple: int, mode: str):
    """Pad bottom/right to multiples of `multiple`; mode "zero" or "replicate"."""
    import torch.nn.functional as F

    height, width = x.shape[-2:]
    ph, pw = padded_size(height, width, multiple)
    if (ph, pw) == (height, width):
        return x
    if mode == "zero":
        return F.pad(x, (0, pw - width, 0, ph - height))
    return F.pad(x, (0, pw - width, 0, ph - height), mode="replicate")


def crop(x, height: int, width: int):
    return x[..., :height, :width]


def list_images(folder) -> list:
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


__all__ = ["LoadedImage", "load_image", "load_rgb", "encode_image", "save_rgb", "output_format", "to_tensor",
           "to_uint8", "pad", "crop", "list_images"]
