"""Why extra bits buy the model little quality: what its decoder renders from four latents of the same crop.

- rounded: the analysis latent as coding sends it (the model's own result at λ);
- unrounded: the same latent without quantisation (the most that finer quantisation, i.e. more bits at the
  same λ-independent analysis, could give);
- MSE-optimised: a latent found by gradient descent on the reconstruction's MSE alone, unquantised and
  with no rate (what the decoder can render at all);
- rate-distortion search: the best latent (after rounding) that Adam visits on λ^3·bpp + 5500·MSE (the
  training balance) with straight-through rounding through the frozen entropy model, as the encoder's
  latent search does, at a few step sizes: how many bits the decoder's better reconstructions cost.

256² crops of development images; estimated bpp, PSNR and LPIPS-HED.

    python benchmarks/rate_ceiling.py DEV_DIR [--weights W] [--steps 100]
"""
import argparse
import math
from pathlib import Path

import torch

from icisp_codec.evaluation.lpips_hed import lpips_hed
from icisp_codec.image_io import load_rgb
from icisp_codec.model.entropy.hyperprior import bits_per_sample
from icisp_codec.weights import load_weights

# (top, left) of each crop: astronaut's face, chelsea's whiskers, coffee's cup rim and beans
CROPS = {"astronaut.png": (40, 120), "chelsea.png": (20, 100), "coffee.png": (100, 200)}
SIDE = 256
MSE_WEIGHT = 5500  # the shipped balance's distortion weight (docs/training.md), against λ^3·bpp


def to_uint8(t):
    return (t.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().byte().numpy()


def measures(x, x_hat, bits=None):
    mse = (x_hat.clamp(0, 1) - x).square().mean().item()
    bpp = "" if bits is None else f"{bits / (x.shape[-1] * x.shape[-2]):.3f} bpp, "
    return f"{bpp}{10 * math.log10(1 / mse):.2f} dB, LPIPS-HED {lpips_hed(to_uint8(x), to_uint8(x_hat)):.4f}"


@torch.enable_grad()
def optimise_for_mse(model, x, y, lam, steps):
    y = y.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=0.02)
    for _ in range(steps):
        (y.grad,) = torch.autograd.grad((model.synthesize(y, lam) - x).square().mean(), [y])
        optimizer.step()
    return y.detach()


@torch.enable_grad()
def search(model, x, y, lam, steps, step_size):
    """The visited latent with the lowest λ^3·bpp + 5500·MSE after rounding, and its rounded form and bits."""
    y = y.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=step_size)
    best = (math.inf, None, None)
    for step in range(steps + 1):
        y_bar, likelihoods = model.latent_codec(y, rounded=True)
        bits = bits_per_sample(likelihoods).sum()
        mse = (model.synthesize(y_bar, lam) - x).square().mean()
        loss = lam**3 * bits / (x.shape[-1] * x.shape[-2]) + MSE_WEIGHT * mse
        if loss.item() < best[0]:
            best = (loss.item(), y_bar.detach(), bits.item())
        if step < steps:
            (y.grad,) = torch.autograd.grad(loss, [y])
            optimizer.step()
    return best[1:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--step-sizes", type=float, nargs="+", default=[0.002, 0.01],
                        help="Adam step sizes of the R-D search, in quantisation bins")
    parser.add_argument("--skip-mse", action="store_true", help="Skip the MSE-only optimisation.")
    parser.add_argument("--crops", nargs="+", default=list(CROPS))
    args = parser.parse_args()
    model = load_weights(args.weights)[0]
    model.requires_grad_(False)
    for name in args.crops:
        top, left = CROPS[name]
        rgb = load_rgb(Path(args.folder) / name)[top : top + SIDE, left : left + SIDE]
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
        for lam in (1.0, 5.0):
            with torch.no_grad():
                y = model.analyse(x, lam)
                y_bar, likelihoods = model.latent_codec(y, rounded=True)
                print(f"{name} λ={lam:g}")
                bits = bits_per_sample(likelihoods).sum()
                print(f"  rounded        {measures(x, model.synthesize(y_bar, lam), bits)}")
                print(f"  unrounded      {measures(x, model.synthesize(y, lam))}")
            if not args.skip_mse:
                optimised = optimise_for_mse(model, x, y, lam, args.steps)
                with torch.no_grad():
                    print(f"  MSE-optimised  {measures(x, model.synthesize(optimised, lam))}")
            for step_size in args.step_sizes:
                y_bar, bits = search(model, x, y, lam, args.steps, step_size)
                with torch.no_grad():
                    x_hat = model.synthesize(y_bar, lam)
                print(f"  R-D search, step {step_size:g}: {measures(x, x_hat, bits)}", flush=True)


if __name__ == "__main__":
    main()
