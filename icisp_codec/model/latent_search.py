"""Encoder-side latent search (`--effort`): spend encode time to send fewer bits for the same image.

The analysis transform is amortised: one pass predicts a latent that is good for images in general, not the
best one for this image. At higher effort the encoder improves that latent by gradient steps on what coding
will actually do (Yang et al. 2020, "Improving Inference for Neural Image Compression", with straight-through
rounding): the bits of the rounded symbols under the frozen entropy model (latent codecs with rounded=True)
and the distortion of the frozen synthesis' reconstruction. The format and the decoder do not change; only
which symbols the encoder sends.

The search minimises the bits under the constraint that the mean squared error is not above the amortised
latent's (a multiplier on the distortion follows the constraint, rising while it is violated), and keeps the
visited latent with the fewest bits among those that meet it: the file gets smaller, never larger, at no loss
of fidelity by the model's own measure. It uses no perceptual judge (LPIPS-HED stays independent).

Large images are searched in windows of latents (each with its own part of the image), which bounds the
memory the gradients take; the coded latent is the whole, as always.
"""
import math

import torch

from ..geometry import LATENT_STRIDE, tile_grid
from .config import EFFORTS, PAPER_MSE_WEIGHT
from .entropy.hyperprior import bits_per_sample

# Adam's step in latent units (a quantisation bin is 1). Adam's first steps move every element by about this
# much: 0.05 pushed so many near-zero symbols across a bin edge that the first step doubled the bits of a
# smooth image; 0.01 lets the few steps move only what pays.
STEP_SIZE = 0.01
MULTIPLIER_RATE = 10.0  # how fast the distortion multiplier follows the constraint (per relative excess)
WINDOW_LATENTS = 48  # search window side in latents (768 pixels): bounds the memory its gradients take


def search_steps(effort) -> int:
    try:
        return EFFORTS[effort]
    except (KeyError, TypeError):
        raise ValueError(f"effort must be one of {sorted(EFFORTS)}, not {effort!r}") from None


def search_latent(model, x, y, lam, steps, window=WINDOW_LATENTS):
    """The latent to code instead of y (the analysis output for x, scaled for λ), after `steps` steps."""
    if not steps:
        return y
    out = y.clone()
    for rows, cols in tile_grid(*y.shape[-2:], window):
        pixels = (slice(s.start * LATENT_STRIDE, s.stop * LATENT_STRIDE) for s in (rows, cols))
        out[..., rows, cols] = _descend(model, x[(..., *pixels)], y[..., rows, cols], lam, steps)
    return out


@torch.enable_grad()
def _descend(model, x, y0, lam, steps):
    pixels = x.shape[-2] * x.shape[-1]
    y = y0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=STEP_SIZE)
    multiplier, best_bits, best, mse_bound = 1.0, math.inf, y0, None
    for step in range(steps + 1):
        y_bar, likelihoods = model.latent_codec(y, rounded=True)
        bits = bits_per_sample(likelihoods).sum()
        mse = (model.synthesize(y_bar, lam) - x).square().mean()
        if mse_bound is None:
            mse_bound = mse.item()
        else:  # the multiplier rises while the distortion is above its bound, falls while below
            multiplier *= math.exp(MULTIPLIER_RATE * (mse.item() / mse_bound - 1))
        if mse.item() <= mse_bound and bits.item() < best_bits:
            best_bits, best = bits.item(), y.detach().clone()
        if step == steps:
            break
        # the gradient of the latent alone: the frozen network's weights get none
        (y.grad,) = torch.autograd.grad(lam * bits / pixels + multiplier * PAPER_MSE_WEIGHT * mse, [y])
        optimizer.step()
    return best
