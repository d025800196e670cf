"""Long fuzz run of the decoder: 10,000 mutants (default) of files made with a small random model and with
the shipped weights, half byte-level damage and half structure-aware (fields, tile table, substreams,
metadata chunks, λ changed with valid checksums). Each mutant is decoded and written as `icisp decode`
would. Prints outcome counts, the slowest decode and the process's peak RSS; exits 1 if any mutant raised
something other than an IcispError or an internal error.

    python benchmarks/fuzz.py [--cases 10000]
"""
import argparse
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from icisp_codec.codec import Codec
from icisp_codec.fuzzing import fuzz
from icisp_codec.model import build_model
from icisp_codec.weights import save_weights


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10000)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_model("tiny")
    model.build_tables()
    with tempfile.TemporaryDirectory() as tmp:
        save_weights(model, Path(tmp) / "tiny.pt")
        codecs = {"tiny": Codec.load(Path(tmp) / "tiny.pt", device="cpu", bf16=False),
                  "shipped": Codec.load(device="cpu", bf16=False)}
    rng = np.random.default_rng(0)
    failed, slowest = False, 0.0
    for name, codec in codecs.items():
        images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((40, 60), (64, 64), (17, 9))]
        alpha = {"ALPH": _alpha_png(40, 60)}
        seeds = [codec.encode(im, lam)[0] for im in images for lam in (1.0, 5.0)]
        seeds.append(codec.encode(images[0], 2.5, metadata=alpha)[0])
        counts, bugs, seconds = fuzz(codec, seeds, args.cases // len(codecs), seed=1)
        slowest = max(slowest, seconds)
        print(f"{name}: {sum(counts.values())} mutants -> {counts}; slowest decode {seconds:.2f} s")
        for _, exc in bugs[:10]:
            print(f"  bug: {type(exc).__name__}: {exc}")
        failed |= bool(bugs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"slowest decode {slowest:.2f} s; peak RSS of the whole run {peak:.2f} GiB")
    sys.exit(1 if failed else 0)


def _alpha_png(height, width):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.tile(np.arange(width, dtype=np.uint8), (height, 1)), "L").save(out, "PNG")
    return out.getvalue()


if __name__ == "__main__":
    main()
