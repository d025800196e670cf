"""Analysis and synthesis transforms g_a, g_s and the hyper-analysis h_a.

Stage layout (paper): RBS↓2 [RSSM] ×3 then conv↓2 to M at H/16; g_s mirrors it with RBU↑2 and a sub-pixel
conv to RGB. `rssm_levels` says at which downsampling factors an RSSM sits; when 16 is among them the last
downsampling goes to N channels, an RSSM runs at H/16, and a 1×1 conv maps to M (the `lite` layout, which
keeps the state-space blocks where the token grid is small).
"""
import torch.nn as nn

from .blocks import RSSM
from .compressai_parts import ResidualBlockUpsample, ResidualBlockWithStride, conv3x3, subpel_conv3x3


def _rssm_or_identity(enabled, channels, d_state):
    return RSSM(channels, d_state=d_state) if enabled else nn.Identity()


def analysis_transform(cfg):
    N, levels = cfg.N, cfg.rssm_levels
    layers = [ResidualBlockWithStride(3, N, stride=2), _rssm_or_identity(2 in levels, N, cfg.d_state)]
    layers += [ResidualBlockWithStride(N, N, stride=2), _rssm_or_identity(4 in levels, N, cfg.d_state)]
    layers += [ResidualBlockWithStride(N, N, stride=2), _rssm_or_identity(8 in levels, N, cfg.d_state)]
    if 16 in levels:
        layers += [conv3x3(N, N, stride=2), RSSM(N, d_state=cfg.d_state), nn.Conv2d(N, cfg.M, 1)]
    else:
        layers += [conv3x3(N, cfg.M, stride=2)]
    return nn.Sequential(*[m for m in layers if not isinstance(m, nn.Identity)])


def synthesis_transform(cfg):
    N, levels = cfg.N, cfg.rssm_levels
    if 16 in levels:
        layers = [nn.Conv2d(cfg.M, N, 1), RSSM(N, d_state=cfg.d_state), ResidualBlockUpsample(N, N, 2)]
    else:
        layers = [ResidualBlockUpsample(cfg.M, N, 2)]
    layers += [_rssm_or_identity(8 in levels, N, cfg.d_state), ResidualBlockUpsample(N, N, 2)]
    layers += [_rssm_or_identity(4 in levels, N, cfg.d_state), ResidualBlockUpsample(N, N, 2)]
    layers += [_rssm_or_identity(2 in levels, N, cfg.d_state), subpel_conv3x3(N, 3, 2)]
    return nn.Sequential(*[m for m in layers if not isinstance(m, nn.Identity)])


# Where a λ-modulated transform (config.lambda_modulation, rate.py) scales its features: after each block
# that changes the resolution, the end of a stage.
STAGE_ENDS = (ResidualBlockWithStride, ResidualBlockUpsample)


def stage_count(transform):
    return sum(isinstance(layer, STAGE_ENDS) for layer in transform)


class ChannelScale(nn.Module):
    """x times a fixed (B, C, 1, 1) scale: one λ's stage scale inside a transform's view."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def with_stage_scales(transform, scales):
    """The transform with each stage's output multiplied by its scale, as a view that shares its layers (so
    slicing it and local_tail_start work as on the transform itself); the transform itself without scales."""
    if not scales:
        return transform
    scales = iter(scales)
    layers = []
    for layer in transform:
        layers.append(layer)
        if isinstance(layer, STAGE_ENDS):
            layers.append(ChannelScale(next(scales)))
    return nn.Sequential(*layers)


# Rows of context each side that the synthesis's local tail needs (its receptive radius is 2.5 input rows
# in `lite`: two upsampling residual blocks and the sub-pixel output conv); tests/test_tiling.py checks it.
SYNTHESIS_TAIL_HALO = 4


def local_tail_start(g_s):
    """Index of the first layer after g_s's last state-space block: from there on every layer is local."""
    return 1 + max((i for i, m in enumerate(g_s) if isinstance(m, RSSM)), default=-1)


def hyper_analysis(cfg):
    layers = [ResidualBlockWithStride(cfg.M, cfg.N, stride=2)]
    if cfg.hyper_rssm:
        layers.append(RSSM(cfg.N, d_state=cfg.d_state))
    layers.append(conv3x3(cfg.N, cfg.z_channels, stride=2))
    return nn.Sequential(*layers)
