"""A 24-megapixel photo through `icisp encode` and `icisp decode`: time, peak memory, and whether the
transform windows leave seams.

    python benchmarks/big_photo.py [--weights weights/lite.pt] [--lam 2.5] [--out runs/big-photo]

The 6000x4000 test image is the development image flower.png (2268x1512) enlarged with Lanczos: a real photo's
content at the size of a 24 MP camera frame (no 24 MP photo is among the development images). Each command
runs in its own process, whose peak RSS is read from the kernel (wait4). The seam check compares the PSNR of
16-px bands centred on the transform-window borders with the PSNR of the whole image, and writes a 100% crop
around a window corner for the eye.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from icisp_codec.evaluation.devset import LIBJXL, LIBJXL_FILES
from icisp_codec.evaluation.metrics import psnr
from icisp_codec.tiling import LATENT_STRIDE, WINDOW_LATENTS

SIZE = (6000, 4000)
BAND = 8  # pixels on each side of a window border


def run(command):
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        sys.exit(f"failed: {' '.join(command)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def seam_mask(height, width):
    window = WINDOW_LATENTS * LATENT_STRIDE
    mask = np.zeros((height, width), dtype=bool)
    for border in range(window, height, window):
        mask[border - BAND : border + BAND] = True
    for border in range(window, width, window):
        mask[:, border - BAND : border + BAND] = True
    return mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--lam", type=float, default=2.5)
    parser.add_argument("--out", default="runs/big-photo")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    original_path = out / "flower-24mp.png"
    if not original_path.exists():
        Image.open(LIBJXL / LIBJXL_FILES[0]).convert("RGB").resize(SIZE, Image.LANCZOS).save(original_path)
    weights = ["--weights", args.weights] if args.weights else []
    coded, decoded_path = out / "flower-24mp.icisp", out / "flower-24mp-decoded.png"
    enc_s, enc_gib = run(["icisp", "-q", "encode", str(original_path), str(coded), "--lambda", str(args.lam), "-f",
                          *weights])
    dec_s, dec_gib = run(["icisp", "-q", "decode", str(coded), str(decoded_path), "-f", *weights])
    original = np.asarray(Image.open(original_path).convert("RGB"))
    decoded = np.asarray(Image.open(decoded_path).convert("RGB"))
    mask = seam_mask(*original.shape[:2])
    whole, seams, away = psnr(original, decoded), psnr(original[mask], decoded[mask]), psnr(
        original[~mask], decoded[~mask])
    megapixels = original.shape[0] * original.shape[1] / 1e6
    print(f"image: {SIZE[0]}x{SIZE[1]} ({megapixels:.1f} MP), lambda {args.lam}, "
          f"{coded.stat().st_size * 8 / (megapixels * 1e6):.4f} bpp")
    print(f"encode: {enc_s:.1f} s, peak RSS {enc_gib:.2f} GiB")
    print(f"decode: {dec_s:.1f} s, peak RSS {dec_gib:.2f} GiB")
    print(f"PSNR: whole image {whole:.2f} dB, {2 * BAND}-px bands on window borders {seams:.2f} dB, "
          f"elsewhere {away:.2f} dB (bands - whole = {seams - whole:+.2f} dB)")
    corner = WINDOW_LATENTS * LATENT_STRIDE
    crop = (slice(corner - 128, corner + 128), slice(corner - 128, corner + 128))
    side_by_side = np.concatenate([original[crop], decoded[crop]], axis=1)
    Image.fromarray(side_by_side).save(out / "seam-crop.png")
    print(f"100% crop around the window corner at ({corner}, {corner}), original | decoded: {out / 'seam-crop.png'}")


if __name__ == "__main__":
    main()
