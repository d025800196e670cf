"""R-D cost of the exact-integer context path: payload bpp and PSNR with the integer engine vs the float
engine, same weights, on the development images at the rate presets.

    python benchmarks/integer_path_cost.py DEV_DIR [--weights lite]
"""
import argparse

import numpy as np

from icisp_codec.codec import Codec
from icisp_codec.evaluation.metrics import psnr
from icisp_codec.image_io import list_images, load_rgb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--weights", default=None)
    args = parser.parse_args()
    codec = Codec.load(args.weights, device="cpu")
    rows = []
    for path in list_images(args.folder):
        rgb = load_rgb(path)
        for lam in codec.model.cfg.rate_presets:
            row = {}
            for kind in ("float", "integer"):
                data, report = codec.encode(rgb, lam, context_path=kind)
                decoded, _ = codec.decode(data)
                row[kind] = (report.payload_bpp, psnr(rgb, decoded))
            rows.append(row)
            print(f"{path.name} λ={lam:g}: float {row['float'][0]:.4f} bpp {row['float'][1]:.2f} dB, "
                  f"integer {row['integer'][0]:.4f} bpp {row['integer'][1]:.2f} dB", flush=True)
    f = np.array([r["float"] for r in rows])
    i = np.array([r["integer"] for r in rows])
    print(f"\ninteger vs float context path over {len(rows)} image×λ pairs: payload bpp "
          f"{100 * (i[:, 0].sum() / f[:, 0].sum() - 1):+.2f}% (total bits), PSNR {np.mean(i[:, 1] - f[:, 1]):+.3f} dB")


if __name__ == "__main__":
    main()
