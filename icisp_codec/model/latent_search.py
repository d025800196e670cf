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

from .config import EFFORTS

# Adam's step in latent units (a quantisation bin is 1). Adam's first steps move every element by about this
# much: 0.05 pushed so many near-zero symbols across a bin edge that the first step doubled the bits of a
# smooth image; 0.01 lets the few steps move only what pays.
STEP_SIZE = 0.01
MULTIPLIER_RATE = 10.0  # how fast the distortion multiplier follows the constraint (per relative excess)
DISTORTION_WEIGHT = 435.7  # MSE weight against bits per pixel (the paper's 0.0067·255²) before the multiplier
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
    rows, cols = y.shape[-2:]
    for r in range(0, rows, window):
        for c in range(0, cols, window):
            part = (..., slice(r, min(r + window, rows)), slice(c, min(c + window, cols)))
            pixels = (..., slice(16 * r, 16 * min(r + window, rows)), slice(16 * c, 16 * min(c + window, cols)))
            out[part] = _search_window(model, x[pixels], y[part], lam, steps)
    return out


def _search_window(model, x, y0, lam, steps):
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            return _descend(model, x, y0, lam, steps)
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _descend(model, x, y0, lam, steps):
    pixels = x.shape[-2] * x.shape[-1]
    y = y0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=STEP_SIZE)
    multiplier, best_bits, best, mse_bound = 1.0, math.inf, y0, None
    for step in range(steps + 1):
        y_bar, likelihoods = model.latent_codec(y, rounded=True)
        bits = sum(-torch.log2(lik).sum() for lik in likelihoods.values())
        mse = (model.synthesize(y_bar, lam) - x).square().mean()
        if mse_bound is None:
            mse_bound = mse.item()
        else:  # the multiplier rises while the distortion is above its bound, falls while below
            multiplier *= math.exp(MULTIPLIER_RATE * (mse.item() / mse_bound - 1))
        if mse.item() <= mse_bound and bits.item() < best_bits:
            best_bits, best = bits.item(), y.detach().clone()
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        (lam * bits / pixels + multiplier * DISTORTION_WEIGHT * mse).backward()
        optimizer.step()
    return best
