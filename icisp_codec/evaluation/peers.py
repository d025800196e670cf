"""Peer codecs, in memory: JPEG, WebP and AVIF through Pillow, JPEG XL through imagecodecs, HEIC through
pillow-heif when installed. Each has a quality sweep dense enough to span about 0.05-1 bpp on photos."""
import io

import numpy as np
from PIL import Image

from .optional import require

QUALITIES = {
    "jpeg": [5, 8, 10, 15, 20, 30, 40, 50, 60, 75, 90],
    "webp": [0, 5, 10, 20, 30, 40, 50, 60, 75, 90],
    "avif": [5, 10, 20, 30, 40, 50, 60, 70, 80],
    "jxl": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90],
    "heic": [5, 10, 20, 30, 40, 50, 60, 75, 90],
}


def _pillow(fmt, **options):
    def encode(rgb, quality):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, fmt, quality=quality, **options)
        return buffer.getvalue()

    return encode


def _pillow_decode(data):
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).copy()


def _jxl_encode(rgb, quality):
    imagecodecs = require("imagecodecs", "JPEG XL")
    return imagecodecs.jpegxl_encode(rgb, level=quality, effort=7)


def _jxl_decode(data):
    imagecodecs = require("imagecodecs", "JPEG XL")
    return np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]


def _heic_encode(rgb, quality):
    pillow_heif = require("pillow_heif", "HEIC")
    heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=quality)
    return buffer.getvalue()


def _heic_decode(data):
    pillow_heif = require("pillow_heif", "HEIC")
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(heif.to_pillow().convert("RGB")).copy()


CODECS = {
    "jpeg": (_pillow("JPEG", subsampling="4:2:0"), _pillow_decode),
    "webp": (_pillow("WEBP", method=6), _pillow_decode),
    "avif": (_pillow("AVIF", speed=6), _pillow_decode),
    "jxl": (_jxl_encode, _jxl_decode),
    "heic": (_heic_encode, _heic_decode),
}


def versions() -> dict:
    import PIL

    out = {"pillow": PIL.__version__}
    for name in ("imagecodecs", "pillow_heif"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            pass
    return out
