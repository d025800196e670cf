"""Zero vs replicate padding: total file bytes over a folder at the rate presets (same weights).

    python benchmarks/padding.py DIR
"""
import sys

from icisp_codec.codec import Codec
from icisp_codec.image_io import list_images, load_rgb

codec = Codec.load(device="cpu")
totals = {"zero": 0, "replicate": 0}
for path in list_images(sys.argv[1]):
    rgb = load_rgb(path)
    for lam in codec.model.cfg.rate_presets:
        for mode in totals:
            totals[mode] += len(codec.encode(rgb, lam, pad_mode=mode)[0])
print(totals, f"replicate vs zero: {100 * (totals['replicate'] / totals['zero'] - 1):+.2f}%")
