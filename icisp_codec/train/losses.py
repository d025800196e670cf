"""Loss terms shared by both training stages."""
import math

import torch

from ..model.config import PAPER_MSE_WEIGHT
from ..model.entropy.hyperprior import bits_per_sample

# Stage-1 distortion weight: the paper's, with the rate weight as the rate knob.
MSE_WEIGHT_STAGE1 = PAPER_MSE_WEIGHT


def sample_lambdas(batch, lambda_range, generator=None):
    """Per-sample rate weights, log-uniform over the model's range."""
    lo, hi = lambda_range
    u = torch.rand(batch, generator=generator)
    return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def bits_per_pixel(likelihoods, num_pixels):
    """(B,) bits per pixel from a dict of likelihood tensors (B, ...)."""
    return bits_per_sample(likelihoods) / num_pixels


def mse_per_sample(x_hat, x):
    return (x_hat.float() - x).square().flatten(1).mean(1)


def psnr(mse):
    return -10 * torch.log10(mse.clamp(min=1e-10))
