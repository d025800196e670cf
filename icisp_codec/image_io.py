"""Image files <-> uint8 RGB arrays <-> padded float tensors, and back.

Reading and writing go through Pillow. Torch is imported only by the tensor helpers, so reading headers
and listing files stays light.
"""
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError, UnsupportedInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".bmp"}


# Metadata chunk tags of the .icisp container (docs/bitstream.md).
ICC_TAG, EXIF_TAG, ALPHA_TAG = "ICCP", "EXIF", "ALPH"


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    metadata: dict = field(default_factory=dict)  # container chunks: ICC profile, EXIF, alpha (lossless PNG)
    notices: list = field(default_factory=list)  # one line per conversion that was made


def _open(path):
    try:
        im = Image.open(path)
        im.load()
        return im
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Image.DecompressionBombError as exc:
        raise UnsupportedInput(f"{path}: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedInput(f"{path}: cannot read as an image ({exc})") from None


def load_image(path, keep_metadata=True) -> LoadedImage:
    """Read the first frame of an image as 8-bit RGB, with its ICC profile, EXIF and alpha channel as
    metadata chunks (alpha is carried losslessly), and a notice for every conversion made."""
    im = _open(path)
    notices, metadata = [], {}
    if getattr(im, "n_frames", 1) > 1:
        notices.append(f"animated image: only the first of {im.n_frames} frames is coded")
    if keep_metadata:
        if im.info.get("icc_profile"):
            metadata[ICC_TAG] = im.info["icc_profile"]
        exif = im.getexif()
        if len(exif):
            metadata[EXIF_TAG] = exif.tobytes()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() != (255, 255):
            buffer = io.BytesIO()
            alpha.save(buffer, "PNG", optimize=True)
            metadata[ALPHA_TAG] = buffer.getvalue()
            notices.append("alpha channel carried losslessly in its own chunk")
        im = rgba.convert("RGB")
    elif im.mode != "RGB":
        kind = {"L": "grayscale", "P": "palette", "CMYK": "CMYK", "I;16": "16-bit", "I": "32-bit integer",
                "F": "floating-point", "1": "bilevel"}.get(im.mode, im.mode)
        if im.mode.startswith("I") or im.mode == "F":
            im = Image.fromarray((np.asarray(im, dtype=np.float64) / 256).clip(0, 255).astype(np.uint8))
            notices.append(f"{kind} image reduced to 8 bits per channel")
        notices.append(f"{kind} image converted to RGB")
        im = im.convert("RGB")
    return LoadedImage(np.asarray(im, dtype=np.uint8).copy(), metadata, notices)


def load_rgb(path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 array (first frame; converted to 8-bit RGB)."""
    return load_image(path, keep_metadata=False).rgb


def encode_image(rgb: np.ndarray, format: str, metadata=None) -> bytes:
    """Write an image to bytes in a Pillow format, restoring ICC profile, EXIF and alpha where it can."""
    metadata = metadata or {}
    im = Image.fromarray(rgb, mode="RGB")
    if ALPHA_TAG in metadata and format in ("PNG", "WEBP", "TIFF"):
        alpha = Image.open(io.BytesIO(metadata[ALPHA_TAG]))
        im.putalpha(alpha.convert("L"))
    options = {}
    if ICC_TAG in metadata:
        options["icc_profile"] = metadata[ICC_TAG]
    if EXIF_TAG in metadata and format in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["exif"] = metadata[EXIF_TAG]
    buffer = io.BytesIO()
    im.save(buffer, format=format, **options)
    return buffer.getvalue()


def save_rgb(array: np.ndarray, path, format=None) -> None:
    Image.fromarray(array, mode="RGB").save(path, format=format)


def output_format(path) -> str:
    """Pillow format name from an output file's extension (PNG when unknown)."""
    suffix = Path(path).suffix.lower()
    return Image.registered_extensions().get(suffix, "PNG")


def to_tensor(array: np.ndarray, device="cpu"):
    import torch

    return torch.from_numpy(array).to(device).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (tensor[0].float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def padded_size(height: int, width: int, multiple: int):
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


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
           "to_uint8", "pad", "crop", "padded_size", "list_images"]
