"""Training throughput on this machine: images/s of a training step (batch 8 of 256x256 crops, forward +
backward + optimiser steps) of `lite` in stage 1 and stage 2 (with the discriminator, its semantic encoder,
the perceptual and style features), as `icisp train` runs them, and of compressai's bmshj2018-hyperprior
(stage-1 loss) for comparison; fp32 and bf16 autocast.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/train_speed.py [--paper]

Run it on an otherwise idle machine: a second busy process slows 2-thread steps several-fold.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from icisp_codec.train.loop import Trainer, TrainOptions
from icisp_codec.train.losses import MSE_WEIGHT_STAGE1, bits_per_pixel, mse_per_sample

BATCH, CROP = 8, 256


def median_seconds(step, steps=4, warmup=2):
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def bmshj2018_step(bf16):
    from compressai.models import ScaleHyperprior

    torch.manual_seed(0)
    model = ScaleHyperprior(128, 192)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(BATCH, 3, CROP, CROP)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        rate = bits_per_pixel(out["likelihoods"], CROP * CROP)
        loss = (rate + MSE_WEIGHT_STAGE1 * mse_per_sample(out["x_hat"], x)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def trainer_step(config, stage, bf16, data_dir, out_dir):
    trainer = Trainer(TrainOptions(out=str(out_dir), data=[str(data_dir)], config=config, stage=stage,
                                   crop=CROP, batch=BATCH, bf16=bf16, threads=0))
    return lambda: trainer.train_step(*trainer.next_batch())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper", action="store_true", help="also time the paper configuration (slow)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [("bmshj2018-hyperprior (stage-1 loss)", bmshj2018_step)]
    configs = ["lite"] + (["paper"] if args.paper else [])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(data / "noise.png")
        for config in configs:
            for stage in (1, 2):
                rows.append((f"{config} stage {stage}",
                             lambda bf16, c=config, s=stage: trainer_step(c, s, bf16, data, Path(tmp) / "out")))
        print(f"threads={args.threads}, batch {BATCH} x {CROP}x{CROP}, median of 4 steps after 2 warm-up steps")
        print("| model | fp32 s/step | fp32 img/s | bf16 s/step | bf16 img/s |")
        print("|---|---|---|---|---|")
        for name, make in rows:
            row = [name]
            for bf16 in (False, True):
                s = median_seconds(make(bf16))
                row += [f"{s:.2f}", f"{BATCH / s:.2f}"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
