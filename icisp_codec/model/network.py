"""The ICISP codec network: g_a -> gains -> hyperprior latent codec -> inverse gains -> g_s.

    model = build_model("lite")
    out = model(x, lam)                                   # training: x_hat, likelihoods, y_bar
    y = model.analyse(x, lam)                             # coding: the scaled latent ...
    engine = model.context_engine("integer")              # ... its symbols (entropy/context.py) ...
    model.latent_codec.compress(y, writer, engine)        # ... into substreams (coding/tiled.py) ...
    y_bar = model.latent_codec.decompress(z_shape, reader, engine)
    x_hat = model.synthesize(y_bar, lam)                  # ... and back
"""
import torch
import torch.nn as nn

from ..geometry import PAD_MULTIPLE  # noqa: F401  (every RSSM needs even sides down to 1/32)
from .config import get_config
from .entropy.hyperprior import HyperpriorLatentCodec
from .rate import RateGains
from .transforms import analysis_transform, stage_count, synthesis_transform, with_stage_scales


class ICISP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = get_config(cfg)
        self.g_a = analysis_transform(self.cfg)
        self.g_s = synthesis_transform(self.cfg)
        stages = [[self.cfg.N] * stage_count(t) if self.cfg.lambda_modulation else [] for t in (self.g_a, self.g_s)]
        self.gains = RateGains(self.cfg.rate_presets, self.cfg.M, *stages)
        self.latent_codec = HyperpriorLatentCodec(self.cfg)

    @staticmethod
    def _lambda_tensor(lam, batch, device):
        lam = torch.as_tensor(lam, dtype=torch.float32, device=device)
        return lam.expand(batch) if lam.dim() == 0 else lam

    def forward(self, x, lam, rounded=False):
        """x: (B, 3, H, W) in [0, 1], sides multiples of 64; lam: float or (B,) rate weights; rounded: the
        likelihoods of the rounded symbols, differentiable through the rounding (see HyperpriorLatentCodec)."""
        y_bar, likelihoods = self.latent_codec(self.analyse(x, lam), rounded)
        x_hat = self.synthesize(y_bar, lam)
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_bar": y_bar}

    @property
    def default_context_path(self):
        """"integer" where the configuration's context path has an exact integer form, else "float"."""
        return "integer" if self.latent_codec.integer_capable else "float"

    def context_engine(self, kind=None):
        """The engine that computes coding means/scales (default_context_path unless asked)."""
        return self.latent_codec.engine(kind or self.default_context_path)

    def analyse(self, x, lam, run=None):
        """The scaled latent g_a(x)·gain(λ). `run(transform, x)` applies g_a; the codec passes a windowed
        runner for big images (tiling.py)."""
        lam = self._lambda_tensor(lam, x.shape[0], x.device)
        gain, _ = self.gains(lam)
        g_a = with_stage_scales(self.g_a, self.gains.analysis_scales(lam))
        return (run(g_a, x) if run else g_a(x)) * gain

    def synthesize(self, y_bar, lam, run=None):
        lam = self._lambda_tensor(lam, y_bar.shape[0], y_bar.device)
        _, inverse_gain = self.gains(lam)
        g_s = with_stage_scales(self.g_s, self.gains.synthesis_scales(lam))
        y = y_bar * inverse_gain
        return run(g_s, y) if run else g_s(y)

    def aux_loss(self):
        """Loss that fits the factorized prior's quantiles (trained with its own optimiser)."""
        return self.latent_codec.z_codec.loss()

    def build_tables(self, fit_quantiles=True):
        self.latent_codec.build_tables(fit_quantiles)

    def tables(self):
        return self.latent_codec.tables()


# Where tensors lived before the z and y codecs owned their parts (weights files of format 1 and training
# states written before): old name -> new name.
_LEGACY_NAMES = {
    "latent_codec.entropy_bottleneck.": "latent_codec.z_codec.entropy_bottleneck.",
    "latent_codec.factorized_": "latent_codec.z_codec.",
    "latent_codec.gaussian_": "latent_codec.y_codec.",
    "latent_codec.scale_thresholds": "latent_codec.y_codec.scale_thresholds",
}


def upgrade_state_dict(state):
    """A state dict with its tensors under today's names."""
    out = {}
    for key, value in state.items():
        for old, new in _LEGACY_NAMES.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def build_model(config="lite") -> ICISP:
    return ICISP(config)


def parameter_count(module, trainable_only=True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
