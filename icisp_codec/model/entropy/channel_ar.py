"""Channel-wise autoregressive Gaussian latent codec with latent residual prediction (LRP).

y is split into slices along channels; slice i is modelled by a Gaussian whose mean and scale come from
conv networks over the hyper-synthesis output and the already decoded slices (at most max_support of
them), and an LRP network predicts a bounded correction of the quantisation residual that the decoder adds.

Quantisation: training uses additive noise for the rate and a straight-through rounding for the decoder
path; coding sends symbols round(y - mean) with the scale-table row nearest to the predicted scale, the
means and rows computed by a context engine (context.py: float, or exact integer).
"""
import torch
import torch.nn as nn
from compressai.entropy_models import GaussianConditional
from compressai.ops import quantize_ste

from .tables import SCALE_MIN, scale_table

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


class ChannelARLatentCodec(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        M, S = cfg.M, cfg.num_slices
        if M % S:
            raise ValueError(f"M={M} must split into {S} equal slices")
        self.num_slices, self.max_support, self.slice_ch = S, cfg.max_support_slices, M // S
        self.lrp_activation = cfg.lrp_activation

        def support_width(i):
            return M + self.slice_ch * min(i, self.max_support)

        act, hidden = cfg.context_activation, cfg.slice_hidden
        self.mean_nets = nn.ModuleList(_context_net(support_width(i), hidden, self.slice_ch, act) for i in range(S))
        self.scale_nets = nn.ModuleList(_context_net(support_width(i), hidden, self.slice_ch, act) for i in range(S))
        self.lrp_nets = nn.ModuleList(
            _context_net(support_width(i) + self.slice_ch, hidden, self.slice_ch, act) for i in range(S)
        )
        self.gaussian = GaussianConditional(scale_table().tolist(), scale_bound=SCALE_MIN)

    def _slice_params(self, i, latent_means, latent_scales, decoded):
        support = decoded[: self.max_support]
        mean_support = [latent_means] + support
        mu = self.mean_nets[i](torch.cat(mean_support, dim=1))
        sigma = self.scale_nets[i](torch.cat([latent_scales] + support, dim=1))
        return mean_support, mu, sigma

    def forward(self, y, latent_means, latent_scales):
        """Training/estimation pass. Returns (y_bar, likelihoods) with y_bar the LRP-corrected latent."""
        decoded, likelihoods = [], []
        for i, y_slice in enumerate(y.float().chunk(self.num_slices, dim=1)):
            mean_support, mu, sigma = self._slice_params(i, latent_means, latent_scales, decoded)
            mu, sigma = mu.float(), sigma.float()
            with torch.autocast(y.device.type, enabled=False):  # likelihoods in fp32 even under autocast
                _, lik = self.gaussian(y_slice, sigma, means=mu)
            y_hat = quantize_ste(y_slice - mu) + mu
            decoded.append(y_hat + self.lrp(i, torch.cat(mean_support + [y_hat], dim=1)))
            likelihoods.append(lik)
        return torch.cat(decoded, dim=1), torch.cat(likelihoods, dim=1)

    def lrp(self, i, support):
        """Latent residual prediction from the concatenated [means, decoded slices, current slice]."""
        r = self.lrp_nets[i](support)
        return 0.5 * torch.tanh(r) if self.lrp_activation == "tanh" else r.clamp(-0.5, 0.5)

    def code(self, engine, latent_means, latent_scales, slice_symbols):
        """The coding loop shared by encoder and decoder. For each slice, the engine computes the mean and
        the scale-table rows; slice_symbols(i, mu_float, rows) returns the slice's integer symbols (the
        encoder rounds y - mu, the decoder reads the bitstream). Returns y_bar as a float tensor."""
        decoded = []
        for i in range(self.num_slices):
            support = decoded[: self.max_support]
            mean_support = [latent_means] + support
            mu, rows = engine.slice_params(i, mean_support, [latent_scales] + support)
            symbols = slice_symbols(i, engine.mean_as_float(mu), rows)
            y_hat = engine.dequantize(symbols, mu)
            decoded.append(y_hat + engine.lrp(i, mean_support + [y_hat]))
        return engine.to_float(torch.cat(decoded, dim=1))
