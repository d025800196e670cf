"""Training throughput on this machine: images/s for a stage-1 step (batch 8 of 256x256 crops, forward +
backward + Adam) of `lite`, and of compressai's bmshj2018-hyperprior for comparison, in fp32 and bf16.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/train_speed.py [--paper]

Run it on an otherwise idle machine: a second busy process slows 2-thread steps several-fold.
"""
import argparse
import time

import torch

from icisp_codec.model import build_model
from icisp_codec.train.losses import MSE_WEIGHT_STAGE1, bits_per_pixel, mse_per_sample


def bmshj2018():
    from compressai.models import ScaleHyperprior

    return ScaleHyperprior(128, 192)


def step_seconds(model, bf16, batch=8, crop=256, steps=4, warmup=2, variable_rate=True):
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, crop, crop)
    lam = torch.full((batch,), 2.5)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, lam) if variable_rate else model(x)
        loss = (lam * bits_per_pixel(out["likelihoods"], crop * crop)
                + MSE_WEIGHT_STAGE1 * mse_per_sample(out["x_hat"], x)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper", action="store_true", help="also time the paper configuration (slow)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [("bmshj2018-hyperprior", bmshj2018, False), ("lite", lambda: build_model("lite"), True)]
    if args.paper:
        models.append(("paper", lambda: build_model("paper"), True))
    print(f"threads={args.threads}, batch 8 x 256x256, median of 4 steps after 2 warm-up steps")
    print("| model | fp32 s/step | fp32 img/s | bf16 s/step | bf16 img/s |")
    print("|---|---|---|---|---|")
    for name, make, variable_rate in models:
        row = [name]
        for bf16 in (False, True):
            s = step_seconds(make(), bf16, variable_rate=variable_rate)
            row += [f"{s:.2f}", f"{8 / s:.2f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
