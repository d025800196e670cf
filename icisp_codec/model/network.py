"""The ICISP codec network: g_a -> gains -> hyperprior latent codec -> inverse gains -> g_s.

    model = build_model("lite")
    out = model(x, lam)                         # training: x_hat, likelihoods, y_bar
    engine = model.context_engine("integer")    # or "float"; see entropy/context.py
    y_bar, groups = model.compress(x, lam, engine)   # coding: symbol groups for the range coder
    x_hat = model.decompress(read_symbols, z_shape, lam, engine)
"""
import torch
import torch.nn as nn

from .config import get_config
from .entropy.hyperprior import HyperpriorLatentCodec
from .rate import RateGains
from .transforms import analysis_transform, synthesis_transform

# Every RSSM needs even sides down to the hyper-analysis at 1/32, so inputs are padded to multiples of 64.
PAD_MULTIPLE = 64


class ICISP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = get_config(cfg)
        self.g_a = analysis_transform(self.cfg)
        self.g_s = synthesis_transform(self.cfg)
        self.gains = RateGains(self.cfg.rate_presets, self.cfg.M)
        self.latent_codec = HyperpriorLatentCodec(self.cfg)

    @staticmethod
    def _lambda_tensor(lam, batch, device):
        lam = torch.as_tensor(lam, dtype=torch.float32, device=device)
        return lam.expand(batch) if lam.dim() == 0 else lam

    def forward(self, x, lam):
        """x: (B, 3, H, W) in [0, 1], sides multiples of 64; lam: float or (B,) rate weights."""
        gain, inverse_gain = self.gains(self._lambda_tensor(lam, x.shape[0], x.device))
        y = self.g_a(x) * gain
        y_bar, likelihoods = self.latent_codec(y)
        x_hat = self.g_s(y_bar * inverse_gain)
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_bar": y_bar}

    def context_engine(self, kind=None):
        """The engine that computes coding means/scales: "integer" where the configuration allows it."""
        if kind is None:
            kind = "integer" if self.latent_codec.integer_capable else "float"
        return self.latent_codec.engine(kind)

    def compress(self, x, lam, engine):
        gain, _ = self.gains(self._lambda_tensor(lam, x.shape[0], x.device))
        return self.latent_codec.compress(self.g_a(x) * gain, engine)

    def synthesize(self, y_bar, lam):
        _, inverse_gain = self.gains(self._lambda_tensor(lam, y_bar.shape[0], y_bar.device))
        return self.g_s(y_bar * inverse_gain)

    def decompress(self, read_symbols, z_shape, lam, engine):
        return self.synthesize(self.latent_codec.decompress(read_symbols, z_shape, engine), lam)

    def aux_loss(self):
        """Loss that fits the factorized prior's quantiles (trained with its own optimiser)."""
        return self.latent_codec.entropy_bottleneck.loss()

    def build_tables(self):
        self.latent_codec.build_tables()

    def tables(self, table_set):
        return self.latent_codec.tables(table_set)


def build_model(config="lite") -> ICISP:
    return ICISP(config)


def parameter_count(module, trainable_only=True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
