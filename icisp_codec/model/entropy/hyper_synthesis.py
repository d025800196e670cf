"""Hyper-synthesis: z_hat -> (latent_means, latent_scales) at the latent resolution.

`paper`: two unshared branches RBU↑2 -> RSSM -> sub-pixel conv. `lite`: one trunk of convolutions and ReLUs,
because this is part of the context path that must be computable in exact integer arithmetic.
"""
import torch.nn as nn

from ..blocks import RSSM
from ..compressai_parts import ResidualBlockUpsample, subpel_conv3x3


class BranchedHyperSynthesis(nn.Module):
    def __init__(self, cfg):
        super().__init__()

        def branch():
            return nn.Sequential(
                ResidualBlockUpsample(cfg.z_channels, cfg.N, 2),
                RSSM(cfg.N, d_state=cfg.d_state),
                subpel_conv3x3(cfg.N, cfg.M, 2),
            )

        self.mean_branch = branch()
        self.scale_branch = branch()

    def forward(self, z_hat):
        return self.mean_branch(z_hat), self.scale_branch(z_hat)


class ConvHyperSynthesis(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        W = cfg.hyper_width
        self.trunk = nn.Sequential(
            nn.Conv2d(cfg.z_channels, W, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(W, 4 * W, 3, padding=1),
            nn.PixelShuffle(2),
            nn.ReLU(),
            nn.Conv2d(W, W, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(W, 4 * W, 3, padding=1),
            nn.PixelShuffle(2),
            nn.ReLU(),
            nn.Conv2d(W, 2 * cfg.M, 3, padding=1),
        )

    def forward(self, z_hat):
        return self.trunk(z_hat).chunk(2, dim=1)


def hyper_synthesis(cfg):
    return BranchedHyperSynthesis(cfg) if cfg.hyper_branches == 2 else ConvHyperSynthesis(cfg)
