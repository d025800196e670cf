"""Channel-wise autoregressive Gaussian latent codec with latent residual prediction (LRP).

y is split into slices along channels; slice i is modelled by a Gaussian whose mean and scale come from
conv networks over the hyper-synthesis output and the already decoded slices (at most max_support of
them), and an LRP network predicts a bounded correction of the quantisation residual that the decoder adds.

    y_bar, likelihoods = codec(y, params)                  # training (params: the hyper-synthesis output)
    codec.compress(y, params, writer, engine)              # coding ...
    y_bar = codec.decompress(params, reader, engine)       # ... and its mirror

Coding sends symbols round(y - mean) with the scale-table row nearest to the predicted scale; a context
engine (context.py: float, or exact integer) computes the means and rows, so that the decoder's are the
encoder's to the bit.
"""
import torch
import torch.nn as nn

from ..compressai_parts import ENTROPY_CODER, GaussianConditional, gaussian_likelihood, quantize_ste
from .tables import SCALE_MIN, TableBuffers, gaussian_rows, scale_index_thresholds, scale_table

TABLE_SET = "gaussian"


def _activation(name):
    return {"gelu": nn.GELU, "relu": nn.ReLU}[name]()


def _context_net(in_ch, hidden, out_ch, activation):
    return nn.Sequential(
        nn.Conv2d(in_ch, hidden[0], 3, padding=1),
        _activation(activation),
        nn.Conv2d(hidden[0], hidden[1], 3, padding=1),
        _activation(activation),
        nn.Conv2d(hidden[1], out_ch, 3, padding=1),
    )


class ChannelARLatentCodec(TableBuffers):
    resizable = TableBuffers.resizable + ("scale_thresholds",)

    def __init__(self, cfg):
        super().__init__()
        M, S = cfg.M, cfg.num_slices
        if M % S:
            raise ValueError(f"M={M} must split into {S} equal slices")
        self.channels, self.num_slices, self.max_support, self.slice_ch = M, S, cfg.max_support_slices, M // S
        self.lrp_activation = cfg.lrp_activation

        def support_width(i):
            return M + self.slice_ch * min(i, self.max_support)

        act, hidden = cfg.context_activation, cfg.slice_hidden
        self.mean_nets = nn.ModuleList(_context_net(support_width(i), hidden, self.slice_ch, act) for i in range(S))
        self.scale_nets = nn.ModuleList(_context_net(support_width(i), hidden, self.slice_ch, act) for i in range(S))
        self.lrp_nets = nn.ModuleList(
            _context_net(support_width(i) + self.slice_ch, hidden, self.slice_ch, act) for i in range(S)
        )
        self.gaussian = GaussianConditional(scale_table().tolist(), scale_bound=SCALE_MIN, entropy_coder=ENTROPY_CODER)
        # The integer context path's row choice: row = #{k : sigma >= thresholds[k]} (tables.py).
        self.register_buffer("scale_thresholds", torch.zeros(0, dtype=torch.int64))

    # --- the float networks, shared by training and the float engine --------------------------------------
    def slice_params(self, i, mean_support, scale_support):
        """(mean, scale) of slice i from [latent means, decoded slices...] and [latent scales, ...]."""
        return self.mean_nets[i](torch.cat(mean_support, dim=1)), self.scale_nets[i](torch.cat(scale_support, dim=1))

    def lrp(self, i, support):
        """Latent residual prediction from [latent means, decoded slices, current slice], bounded to ±1/2."""
        r = self.lrp_nets[i](torch.cat(support, dim=1))
        return 0.5 * torch.tanh(r) if self.lrp_activation == "tanh" else r.clamp(-0.5, 0.5)

    def _supports(self, params, decoded):
        latent_means, latent_scales = params
        support = decoded[: self.max_support]
        return [latent_means] + support, [latent_scales] + support

    # --- training ------------------------------------------------------------------------------------------
    def forward(self, y, params, rounded=False):
        """-> (y_bar, likelihoods), y_bar the LRP-corrected latent the synthesis sees. rounded: likelihoods of
        the rounded symbols with gradients through the rounding (the encoder's latent search), not of y with
        noise (training) or rounded without gradient (eval)."""
        decoded, likelihoods = [], []
        for i, y_slice in enumerate(y.float().chunk(self.num_slices, dim=1)):
            mean_support, scale_support = self._supports(params, decoded)
            mu, sigma = (t.float() for t in self.slice_params(i, mean_support, scale_support))
            y_hat = quantize_ste(y_slice - mu) + mu
            with torch.autocast(y.device.type, enabled=False):  # likelihoods in fp32 even under autocast
                if rounded:
                    lik = gaussian_likelihood(self.gaussian, y_hat, sigma, mu)
                else:
                    _, lik = self.gaussian(y_slice, sigma, means=mu)
            decoded.append(y_hat + self.lrp(i, mean_support + [y_hat]))
            likelihoods.append(lik)
        return torch.cat(decoded, dim=1), torch.cat(likelihoods, dim=1)

    # --- coding --------------------------------------------------------------------------------------------
    def compress(self, y, params, writer, engine, reconstruct=False):
        """Writes y's symbols. With reconstruct, returns the latent the decoder will rebuild (y_bar); without,
        returns None and skips the LRP of the slices no later slice takes as support (the last): only the
        synthesis needs it, and the encoder does not synthesise."""
        y_slices = y.chunk(self.num_slices, dim=1)

        def symbols_of(i, mu, rows):
            symbols = torch.round(y_slices[i] - engine.mean_as_float(mu)).to(torch.int32)
            writer.write(TABLE_SET, symbols.cpu().numpy(), rows.cpu().numpy())
            return symbols

        return self._code(params, engine, symbols_of, reconstruct)

    def decompress(self, params, reader, engine):
        def symbols_of(i, mu, rows):
            symbols = reader.read(TABLE_SET, rows.cpu().numpy())
            return torch.from_numpy(symbols).to(device=rows.device, dtype=torch.int32)

        return self._code(params, engine, symbols_of, reconstruct=True)

    def expect(self, reader):
        """Refuse substreams too short for this latent's symbols, before any network runs."""
        reader.expect(TABLE_SET, self.channels)

    def _code(self, params, engine, symbols_of, reconstruct):
        """The coding loop, the same for both sides: per slice the engine's mean and table rows, the
        slice's symbols (rounded by the encoder, read by the decoder), then the LRP correction where a later
        slice or the reconstruction needs it."""
        decoded, supporting = [], min(self.max_support, self.num_slices - 1)
        for i in range(self.num_slices):
            mean_support, scale_support = self._supports(params, decoded)
            mu, rows = engine.slice_params(i, mean_support, scale_support)
            y_hat = engine.dequantize(symbols_of(i, mu, rows), mu)
            if reconstruct or i < supporting:
                decoded.append(y_hat + engine.lrp(i, mean_support + [y_hat]))
        return engine.to_float(torch.cat(decoded, dim=1)) if reconstruct else None

    @torch.no_grad()
    def build_tables(self, fraction_bits):
        """One integer row per scale-table entry, and the integer path's row thresholds."""
        self.set_tables(*gaussian_rows())
        self.scale_thresholds = scale_index_thresholds(fraction_bits)
