"""Long fuzz run of the decoder (default 10,000 mutants of files made with the tiny model and with the
shipped weights). Prints outcome counts; exits 1 if any mutant raised something other than an IcispError.

    python benchmarks/fuzz.py [--cases 10000]
"""
import argparse
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
        codecs = {"tiny": Codec.load(Path(tmp) / "tiny.pt", device="cpu"), "shipped": Codec.load(device="cpu")}
    rng = np.random.default_rng(0)
    failed = False
    for name, codec in codecs.items():
        images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((40, 60), (64, 64), (17, 9))]
        seeds = [codec.encode(im, lam)[0] for im in images for lam in (1.0, 5.0)]
        counts, bugs = fuzz(codec, seeds, args.cases // len(codecs), seed=1)
        print(f"{name}: {sum(counts.values())} mutants -> {counts}")
        for _, exc in bugs[:10]:
            print(f"  bug: {type(exc).__name__}: {exc}")
        failed |= bool(bugs)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
