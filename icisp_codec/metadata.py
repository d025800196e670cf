"""Metadata chunks of a .icisp file: what an image's colour profile, EXIF and alpha channel become in the
file, and back (tags in docs/bitstream.md).

- A colour profile equivalent to sRGB is stored as a one-byte `SRGB` chunk and written back as a standard
  sRGB profile (JPEG XL's approach): equivalent means that converting a grid of 4,913 colours from the
  profile to sRGB moves none by more than one level. Other profiles, or any profile with `exact_icc`, are
  stored zlib-compressed (`ICCZ`). `ICCP` (raw) is read too.
- EXIF is stored compressed (`EXFZ`) when that is smaller, raw (`EXIF`) otherwise.
- The alpha channel is a lossless PNG (`ALPH`).

Chunks are file data, so reading them is defensive: compressed chunks inflate to at most MAX_CHUNK bytes
and the alpha PNG must have the image's size before it is decoded.
"""
import io
import zlib

from PIL import Image

from .errors import CorruptFile

ICC_RAW, ICC_ZLIB, SRGB, EXIF_RAW, EXIF_ZLIB, ALPHA = "ICCP", "ICCZ", "SRGB", "EXIF", "EXFZ", "ALPH"
MAX_CHUNK = 16 << 20  # inflated size limit of a compressed chunk (real profiles and EXIF are KBs)
JPEG_EXIF_LIMIT = 65533  # JPEG keeps EXIF in one APP1 segment


def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def equivalent_to_srgb(icc: bytes) -> bool:
    """Whether a profile maps colours as sRGB does, to within one 8-bit level (measured on a colour grid)."""
    import numpy as np
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != "RGB":
            return False
        levels = np.arange(0, 256, 15, dtype=np.uint8)
        grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 1, 3)
        converted = ImageCms.profileToProfile(Image.fromarray(grid), profile, _srgb_profile(), outputMode="RGB")
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return False
    return int(np.abs(np.asarray(converted, dtype=int) - grid).max()) <= 1


def _smaller(tag_raw, tag_zlib, data):
    packed = zlib.compress(data, 9)
    return {tag_zlib: packed} if len(packed) < len(data) else {tag_raw: data}


def pack(icc=None, exif=None, alpha_png=None, exact_icc=False) -> dict:
    """The chunks for an image's profile, EXIF and alpha (each optional)."""
    chunks = {}
    if icc:
        chunks.update({SRGB: b"\0"} if not exact_icc and equivalent_to_srgb(icc) else {ICC_ZLIB: zlib.compress(icc, 9)})
    if exif:
        chunks.update(_smaller(EXIF_RAW, EXIF_ZLIB, exif))
    if alpha_png:
        chunks[ALPHA] = alpha_png
    return chunks


def _inflate(tag, data):
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_CHUNK)
    except zlib.error as exc:
        raise CorruptFile(f"{tag} chunk is not valid zlib data ({exc})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise CorruptFile(f"{tag} chunk is damaged or inflates beyond {MAX_CHUNK} bytes")
    return out


def icc_profile(chunks):
    """The ICC profile to write, or None."""
    if SRGB in chunks:
        return _srgb_profile().tobytes()
    if ICC_ZLIB in chunks:
        return _inflate(ICC_ZLIB, chunks[ICC_ZLIB])
    return chunks.get(ICC_RAW)


def exif(chunks):
    """The EXIF bytes to write, or None."""
    return _inflate(EXIF_ZLIB, chunks[EXIF_ZLIB]) if EXIF_ZLIB in chunks else chunks.get(EXIF_RAW)


def alpha(chunks, size):
    """The stored alpha plane (mode L) for an image of `size`, or None; checked against the size before it
    is decoded."""
    if ALPHA not in chunks:
        return None
    try:
        plane = Image.open(io.BytesIO(chunks[ALPHA]), formats=["PNG"])
        if plane.size != size:
            raise CorruptFile(f"alpha chunk of {plane.size[0]}x{plane.size[1]} for a {size[0]}x{size[1]} image")
        plane.load()
        return plane.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptFile(f"alpha chunk is not a valid PNG ({exc})") from None
