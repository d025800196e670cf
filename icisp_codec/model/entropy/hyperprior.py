"""Hyperprior latent codec: h_a -> factorized prior on z -> hyper-synthesis -> channel-AR codec for y.

Composable in the spirit of CompressAI's latent_codecs: it turns y into likelihoods (training) or into
symbol groups (coding) and back, and owns the integer tables the range coder uses.
"""
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.ops import quantize_ste

from ..transforms import hyper_analysis
from .channel_ar import TABLE_SET, ChannelARLatentCodec
from .context import FRACTION_BITS, FloatEngine, IntegerEngine, supports_integer_path
from .hyper_synthesis import hyper_synthesis
from .tables import gaussian_rows, pack_rows, quantize_pmf, scale_index_thresholds

Z_TABLE_SET = "factorized"
Z_TAIL = 1e-6


class HyperpriorLatentCodec(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.h_a = hyper_analysis(cfg)
        self.h_s = hyper_synthesis(cfg)
        self.entropy_bottleneck = EntropyBottleneck(cfg.z_channels)
        self.y_codec = ChannelARLatentCodec(cfg)
        self.integer_capable = supports_integer_path(cfg)
        self.register_buffer("scale_thresholds", torch.zeros(0, dtype=torch.int64))
        for name in ("gaussian", "factorized"):
            self.register_buffer(f"{name}_freqs", torch.zeros(0, 0, dtype=torch.int32))
            self.register_buffer(f"{name}_lengths", torch.zeros(0, dtype=torch.int32))
            self.register_buffer(f"{name}_offsets", torch.zeros(0, dtype=torch.int32))

    def _z_hat(self, z):
        medians = self.entropy_bottleneck._get_medians()
        return quantize_ste(z - medians) + medians

    def forward(self, y):
        z = self.h_a(y).float()
        with torch.autocast(z.device.type, enabled=False):  # likelihoods in fp32 even under bf16 autocast
            _, z_likelihoods = self.entropy_bottleneck(z)
        latent_means, latent_scales = self.h_s(self._z_hat(z))
        y_bar, y_likelihoods = self.y_codec(y, latent_means, latent_scales)
        return y_bar, {"y": y_likelihoods, "z": z_likelihoods}

    def engine(self, kind):
        """A context engine ("float" or "integer") over the current weights; see context.py."""
        if kind == "integer":
            if not self.integer_capable:
                raise ValueError("this configuration's context path has no exact integer form")
            if self.scale_thresholds.numel() == 0:
                raise RuntimeError("integer thresholds are not built: call model.build_tables() after training")
            return IntegerEngine(self)
        return FloatEngine(self)

    def compress(self, y, engine):
        """-> (y_bar, groups): groups = [(table_set, symbols, rows), ...] in the order the decoder reads."""
        z = self.h_a(y)
        medians = self.entropy_bottleneck._get_medians()
        z_symbols = torch.round(z - medians)
        channel_ids = torch.arange(z.shape[1], device=z.device).view(1, -1, 1, 1).expand_as(z)
        groups = [(Z_TABLE_SET, z_symbols.to(torch.int32), channel_ids)]
        y_slices = y.chunk(self.y_codec.num_slices, dim=1)

        def slice_symbols(i, mu, rows):
            symbols = torch.round(y_slices[i] - mu)
            groups.append((TABLE_SET, symbols.to(torch.int32), rows))
            return symbols

        latent_means, latent_scales = engine.hyper(z_symbols, medians)
        return self.y_codec.code(engine, latent_means, latent_scales, slice_symbols), groups

    def decompress(self, read_symbols, z_shape, engine):
        """read_symbols(table_set, rows) -> integer symbols shaped like rows; z_shape: (1, C, h, w)."""
        medians = self.entropy_bottleneck._get_medians()
        channel_ids = torch.arange(z_shape[1], device=medians.device).view(1, -1, 1, 1).expand(*z_shape)
        latent_means, latent_scales = engine.hyper(read_symbols(Z_TABLE_SET, channel_ids), medians)
        return self.y_codec.code(engine, latent_means, latent_scales, lambda i, mu, rows: read_symbols(TABLE_SET, rows))

    # --- integer tables -------------------------------------------------------------------------------
    def tables(self, table_set):
        """(freqs[n, width], lengths[n], offsets[n]) as numpy int32 arrays."""
        t = [getattr(self, f"{table_set}_{k}") for k in ("freqs", "lengths", "offsets")]
        if t[0].numel() == 0:
            raise RuntimeError("probability tables are not built: call model.build_tables() after training")
        return tuple(x.cpu().numpy() for x in t)

    def fit_quantiles(self, steps=1000, lr=2.0, final_lr_fraction=1e-3):
        """Converge the factorized prior's quantiles (its median and tails) on the prior as it is now.

        During training the quantiles follow the moving prior with a small learning rate and lag behind it
        (the auxiliary loss grew from 2.6e3 to 9.1e3 over 8k steps); the median sets where z is rounded, so a
        stale one costs bytes. A decaying Adam schedule (its steps sum to ~290, enough to carry the tails of an
        untrained prior out to ±210) reaches an aux loss of ~1 in about a second; on the step-8,013 weights this
        cut the files of four validation images by 1.3% at λ=1 and 2.0% at λ=5."""
        quantiles = self.entropy_bottleneck.quantiles
        optimizer = torch.optim.Adam([quantiles], lr=lr)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, final_lr_fraction ** (1 / steps))
        with torch.enable_grad():
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                self.entropy_bottleneck.loss().backward()
                optimizer.step()
                decay.step()
        quantiles.grad = None

    @torch.no_grad()
    def build_tables(self):
        """Freeze the coding tables from the current parameters (after training, before export)."""
        self.fit_quantiles()
        freqs, lengths, offsets = gaussian_rows()
        self._set_tables("gaussian", freqs, lengths, offsets)
        self.scale_thresholds = scale_index_thresholds(FRACTION_BITS)
        eb = self.entropy_bottleneck
        quantiles = eb.quantiles.detach()  # (C, 1, 3): lower, median, upper
        medians = quantiles[:, 0, 1]
        lo = torch.floor(quantiles[:, 0, 0] - medians).to(torch.int64)
        hi = torch.ceil(quantiles[:, 0, 2] - medians).to(torch.int64)
        # Evaluate every channel's prior on one common integer grid, then keep each channel's own range.
        grid = torch.arange(int(lo.min()), int(hi.max()) + 1, dtype=torch.float32)
        samples = grid.view(1, 1, -1) + medians.view(-1, 1, 1)  # (C, 1, L), the layout _likelihood takes
        pmf_grid = eb._likelihood(samples)[0][:, 0].double().cpu().numpy()
        rows, offs = [], []
        for c in range(quantiles.shape[0]):
            pmf = pmf_grid[c, int(lo[c] - lo.min()) : int(hi[c] - lo.min()) + 1]
            rows.append(quantize_pmf(pmf, escape_mass=max(Z_TAIL, 1.0 - pmf.sum())))
            offs.append(int(lo[c]))
        self._set_tables("factorized", *pack_rows(rows, offs))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Table buffers have data-dependent shapes: take the stored shapes before the default copy.
        names = [f"{n}_{k}" for n in ("gaussian", "factorized") for k in ("freqs", "lengths", "offsets")]
        for name in names + ["scale_thresholds"]:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _set_tables(self, name, freqs, lengths, offsets):
        setattr(self, f"{name}_freqs", freqs.to(torch.int32))
        setattr(self, f"{name}_lengths", lengths.to(torch.int32))
        setattr(self, f"{name}_offsets", offsets.to(torch.int32))
