"""Side-by-side crops at matched bitrates: the original, icisp, and each peer at its nearest bpp."""
import numpy as np
from PIL import Image, ImageDraw

from .peers import CODECS, QUALITIES


def _nearest(candidates, target_bpp):
    """candidates: [(bpp, label, decoded)] -> the one whose bpp is closest to the target."""
    return min(candidates, key=lambda c: abs(c[0] - target_bpp))


def comparison(rgb, codec, target_bpp=None, peers=("jpeg", "webp", "avif", "jxl"), crop=256, center=None, lam=None,
               efforts=(1,)):
    """Returns a PIL image: labelled crops, one per codec and effort level. icisp at the λ nearest to target_bpp
    or, given lam, at that λ; each peer at the bpp nearest to target_bpp, or else to icisp's first crop."""
    pixels = rgb.shape[0] * rgb.shape[1]
    tiles = [("original", rgb)]
    lo, hi = codec.lambda_range
    lambdas = [lam] if lam is not None else np.exp(np.linspace(np.log(lo), np.log(hi), 9))
    for effort in efforts:
        icisp = []
        for value in lambdas:
            data, _ = codec.encode(rgb, float(value), effort=effort)
            # ASCII label: the default font has no λ glyph
            label = f"icisp lambda={value:.2f}" + (f" e{effort}" if effort != 1 else "")
            icisp.append((len(data) * 8 / pixels, label, data))
        bpp, label, data = icisp[0] if lam is not None else _nearest(icisp, target_bpp)
        tiles.append((f"{label} {bpp:.3f} bpp", codec.decode(data)[0]))
        if target_bpp is None:
            target_bpp = bpp  # the peers match icisp's first crop
    for name in peers:
        encode, decode = CODECS[name]
        options = [(len(d) * 8 / pixels, f"{name} q={q}", d) for q in QUALITIES[name] for d in [encode(rgb, q)]]
        bpp, label, data = _nearest(options, target_bpp)
        tiles.append((f"{label} {bpp:.3f} bpp", decode(data)))
    h, w = rgb.shape[:2]
    cy, cx = center or (h // 2, w // 2)
    top, left = max(0, min(h - crop, cy - crop // 2)), max(0, min(w - crop, cx - crop // 2))
    side_h, side_w = min(crop, h), min(crop, w)
    label_h = 18
    canvas = Image.new("RGB", (len(tiles) * (side_w + 4), side_h + label_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, image) in enumerate(tiles):
        x = i * (side_w + 4)
        canvas.paste(Image.fromarray(image[top : top + side_h, left : left + side_w]), (x, label_h))
        draw.text((x + 2, 2), label, fill="black")
    return canvas
