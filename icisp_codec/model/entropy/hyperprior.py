"""Hyperprior latent codec: composes the hyper-analysis, the factorized codec of z, the hyper-synthesis and
the channel-autoregressive codec of y, in the manner of CompressAI's latent_codecs.

            y ──h_a──> z ──z_codec──> z symbols ─────────────────> substreams (factorized table set)
                                        │
                              engine.hyper (h_s)
                                        │
                          (latent means, latent scales)
                                        │
            y ─────────────────────y_codec (slices, LRP)───────> substreams (gaussian table set)
                                        │
                                      y_bar (the decoder's; the encoder's only on request)

compress() walks this top to bottom writing symbols; decompress() walks it in the same order reading them.
The context engine (context.py) is the strategy both are given: it decides whether the hyper-synthesis and
the slice networks run in floating point or in exact integers.
"""
import torch
import torch.nn as nn

from ..transforms import hyper_analysis
from .channel_ar import TABLE_SET as Y_TABLE_SET
from .channel_ar import ChannelARLatentCodec
from .context import FRACTION_BITS, FloatEngine, IntegerEngine, supports_integer_path
from .factorized import TABLE_SET as Z_TABLE_SET
from .factorized import FactorizedLatentCodec
from .hyper_synthesis import hyper_synthesis


def bits_per_sample(likelihoods):
    """(B,) bits of each sample's symbols, -sum log2 p, from forward's {"y": ..., "z": ...} likelihoods."""
    return sum(-torch.log2(lik.float()).flatten(1).sum(1) for lik in likelihoods.values())


class HyperpriorLatentCodec(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        # (registration order = parameter order, which saved optimiser states rely on)
        self.h_a = hyper_analysis(cfg)
        self.h_s = hyper_synthesis(cfg)
        self.z_codec = FactorizedLatentCodec(cfg.z_channels)
        self.y_codec = ChannelARLatentCodec(cfg)
        self.integer_capable = supports_integer_path(cfg)

    def forward(self, y, rounded=False):
        """Training/estimation: -> (y_bar, {"y": likelihoods, "z": likelihoods}). rounded: the likelihoods of
        the symbols coding would send, differentiable through the rounding (the encoder's latent search)."""
        z_hat, z_likelihoods = self.z_codec(self.h_a(y), rounded)
        y_bar, y_likelihoods = self.y_codec(y, self.h_s(z_hat), rounded)
        return y_bar, {"y": y_likelihoods, "z": z_likelihoods}

    def compress(self, y, writer, engine, reconstruct=False):
        """Writes the symbols of z, then of y; with reconstruct, returns y_bar (ChannelARLatentCodec.compress)."""
        z_symbols = self.z_codec.compress(self.h_a(y), writer)
        params = engine.hyper(z_symbols, self.z_codec.medians)
        return self.y_codec.compress(y, params, writer, engine, reconstruct)

    def decompress(self, z_shape, reader, engine):
        self.y_codec.expect(reader)
        z_symbols = self.z_codec.decompress(z_shape, reader)
        params = engine.hyper(z_symbols, self.z_codec.medians)
        return self.y_codec.decompress(params, reader, engine)

    def engine(self, kind):
        """A context engine ("float" or "integer") over the current weights; see context.py."""
        y = self.y_codec
        if kind == "float":
            return FloatEngine(self.h_s, y.slice_params, y.lrp)
        if not self.integer_capable:
            raise ValueError("this configuration's context path has no exact integer form")
        if y.scale_thresholds.numel() == 0:
            raise RuntimeError("integer thresholds are not built: call model.build_tables() after training")
        return IntegerEngine(self.h_s.trunk, y.mean_nets, y.scale_nets, y.lrp_nets, y.scale_thresholds)

    def tables(self):
        """{table set: (freqs, lengths, offsets)} for the range coder."""
        return {Z_TABLE_SET: self.z_codec.tables(), Y_TABLE_SET: self.y_codec.tables()}

    @torch.no_grad()
    def build_tables(self, fit_quantiles=True):
        """Freeze the coding tables from the current parameters (after training, before export)."""
        self.z_codec.build_tables(fit_quantiles)
        self.y_codec.build_tables(FRACTION_BITS)
