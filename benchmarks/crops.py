"""100% crops at the medium preset (λ 2.5) against AVIF and JPEG XL at the nearest file size, for faces and
fine texture: astronaut's face and chelsea's whiskers, icisp at effort 1 (default) and 4.

    python benchmarks/crops.py [OUT.png]        # default docs/crops-medium.png
"""
import sys
from pathlib import Path

import skimage
from PIL import Image

from icisp_codec.codec import Codec
from icisp_codec.evaluation.mosaic import comparison
from icisp_codec.image_io import load_rgb

# (image, crop centre (row, column)): the face; the whiskers beside the nose
CROPS = (("astronaut.png", (115, 225)), ("chelsea.png", (215, 190)))


def main(out="docs/crops-medium.png"):
    codec = Codec.load(device="cpu", bf16=False)
    images = Path(skimage.__file__).parent / "data"
    rows = [comparison(load_rgb(images / name), codec, peers=("avif", "jxl"), crop=160, center=center, lam=2.5,
                       efforts=(1, 4)) for name, center in CROPS]
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 4 for r in rows)), "white")
    top = 0
    for row in rows:
        canvas.paste(row, (0, top))
        top += row.height + 4
    canvas.save(out)
    print(f"written {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
