"""Variable rate: one network for every rate weight λ in [λ_min, λ_max] through gain units.

Each preset λ_k owns a learned per-channel gain g_k and inverse gain g'_k. The encoder codes y·g(λ) and the
decoder synthesises from ŷ·g'(λ); between presets the log-gains are interpolated linearly in log λ
(Cui et al., "Asymmetric gained deep image compression", 2021), so any λ in range gives an intermediate rate.
A configuration with one preset is a fixed-rate model (the authors' released models): its gains stay at 1
and it codes only its own λ.

With `lambda_modulation` the transforms depend on λ too: after each of their resolution stages a per-channel
scale, interpolated the same way, multiplies the features (`analysis_scales`, `synthesis_scales`). The gains
alone leave the analysis independent of λ, so at the smallest λ the unquantised latent decodes no better than
the rounded one and extra bits buy little (docs/training.md, "Why extra bits buy little"); the stage scales,
1 at the start, let each λ choose what its latent carries.

λ outside [λ_min, λ_max] is an error everywhere (config.check_lambda): nothing is clamped silently.
"""
import math

import torch
import torch.nn as nn

# In a parameter's name, what marks a table of λ modulation's stage scales (training groups them apart).
STAGE_TABLE_MARK = "_log_scales."


class RateGains(nn.Module):
    def __init__(self, presets, channels, analysis_stages=(), synthesis_stages=()):
        """channels: the latent's; analysis_stages / synthesis_stages: the channels of each transform stage
        that gets a λ-dependent scale (none without lambda_modulation)."""
        super().__init__()
        self.presets = tuple(sorted(float(p) for p in presets))
        self.register_buffer("log_presets", torch.log(torch.tensor(self.presets)), persistent=False)
        # Start with coarser quantisation (smaller gain) for larger λ, so rates are ordered from step one.
        mid = math.log(self.presets[len(self.presets) // 2])
        init = torch.tensor([-0.5 * (math.log(p) - mid) for p in self.presets])[:, None].repeat(1, channels)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inverse_gain = nn.Parameter(-init.clone())
        rows = len(self.presets)  # log-scales 0: the stages start as the transforms without them
        self.analysis_log_scales = nn.ParameterList([torch.zeros(rows, c) for c in analysis_stages])
        self.synthesis_log_scales = nn.ParameterList([torch.zeros(rows, c) for c in synthesis_stages])

    @property
    def lambda_range(self):
        return self.presets[0], self.presets[-1]

    def _interpolate(self, table, lam):
        """table: (P, C); lam: (B,) -> (B, C, 1, 1)."""
        if len(self.presets) == 1:
            return table[0].exp().expand(len(lam), -1)[:, :, None, None]
        # λ at a range end may differ from it by float32 rounding: clamping only absorbs that.
        x = torch.log(lam.to(table.dtype)).clamp(self.log_presets[0], self.log_presets[-1])
        hi = torch.searchsorted(self.log_presets, x.contiguous(), right=False).clamp(1, len(self.log_presets) - 1)
        lo = hi - 1
        t = ((x - self.log_presets[lo]) / (self.log_presets[hi] - self.log_presets[lo]))[:, None]
        return ((1 - t) * table[lo] + t * table[hi]).exp()[:, :, None, None]

    def forward(self, lam):
        """lam: (B,) tensor of rate weights -> (gain, inverse_gain), each (B, C, 1, 1)."""
        return self._interpolate(self.log_gain, lam), self._interpolate(self.log_inverse_gain, lam)

    def analysis_scales(self, lam):
        """lam: (B,) -> the analysis stages' scales, a list of (B, C_i, 1, 1) (empty without modulation)."""
        return [self._interpolate(t, lam) for t in self.analysis_log_scales]

    def synthesis_scales(self, lam):
        """lam: (B,) -> the synthesis stages' scales, a list of (B, C_i, 1, 1) (empty without modulation)."""
        return [self._interpolate(t, lam) for t in self.synthesis_log_scales]
