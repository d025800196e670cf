"""Image files <-> uint8 RGB arrays <-> padded float tensors, and back.

Reading and writing go through Pillow. Torch is imported only by the tensor helpers, so reading headers
and listing files stays light.
"""
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError, UnsupportedInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".bmp"}


def load_rgb(path) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 array (first frame; converted to 8-bit RGB)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedInput(f"{path}: cannot read as an image ({exc})") from None


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


__all__ = ["load_rgb", "save_rgb", "output_format", "to_tensor", "to_uint8", "pad", "crop", "padded_size",
           "list_images"]
