"""What storing weights compactly costs: a training state coded as it is (float32) against the same state
exported compactly (int8 convolution/linear weights with a scale per output channel, fp16 elsewhere), both
with the same coding tables, on every image of a folder at the model's presets. Real files: BD-rate of the
compact weights against the exact ones over file bpp, in PSNR and MS-SSIM.

    python benchmarks/storage_cost.py runs/<run>/state.pt DEV_DIR
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

from icisp_codec.codec import Codec
from icisp_codec.evaluation.bdrate import bd_rate
from icisp_codec.evaluation.metrics import ms_ssim, psnr
from icisp_codec.image_io import list_images, load_rgb
from icisp_codec.train.export import load_any
from icisp_codec.weights import save_weights


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("folder")
    args = parser.parse_args()
    model, info, _ = load_any(args.state)
    model.build_tables()
    codecs, sizes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("exact", "compact"):
            save_weights(model, Path(tmp) / f"{precision}.pt", info=info, precision=precision)
            codecs[precision] = Codec.load(Path(tmp) / f"{precision}.pt", device="cpu", bf16=False)
            sizes[precision] = (Path(tmp) / f"{precision}.pt").stat().st_size
    presets = model.cfg.rate_presets
    curves = {name: {lam: [] for lam in presets} for name in codecs}
    for path in list_images(args.folder):
        rgb = load_rgb(path)
        for name, codec in codecs.items():
            for lam in presets:
                data, _ = codec.encode(rgb, lam)
                decoded, _ = codec.decode(data)
                curves[name][lam].append((len(data) * 8 / (rgb.shape[0] * rgb.shape[1]), psnr(rgb, decoded),
                                          ms_ssim(rgb, decoded)))
        print(f"{path.name} done", flush=True)
    means = {name: np.array([np.mean(curves[name][lam], axis=0) for lam in presets]) for name in codecs}
    for name, rows in means.items():
        print(name, " ".join(f"λ={lam:g}: {r[0]:.4f} bpp {r[1]:.2f} dB {r[2]:.4f}" for lam, r in zip(presets, rows)))
    exact, compact = means["exact"], means["compact"]
    for column, metric in ((1, "PSNR"), (2, "MS-SSIM")):
        value, _ = bd_rate(exact[:, 0], exact[:, column], compact[:, 0], compact[:, column])
        print(f"BD-rate of the compact weights against the exact ones ({metric}): {100 * value:+.2f}%")
    print(f"file sizes: exact {sizes['exact'] / 1e6:.1f} MB, compact {sizes['compact'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
