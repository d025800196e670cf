"""Channel-wise autoregressive Gaussian latent codec with latent residual prediction (LRP).

y is split into slices along channels; slice i is modelled by a Gaussian whose mean and scale come from
conv networks over the hyper-synthesis output and the already decoded slices (at most max_support of
them), and an LRP network predicts a bounded correction of the quantisation residual that the decoder adds.

Quantisation: training uses additive noise for the rate and a straight-through rounding for the decoder
path; coding sends symbols round(y - mean) with the scale-table row nearest to the predicted scale.
"""
import torch
import torch.nn as nn
from compressai.entropy_models import GaussianConditional
from compressai.ops import quantize_ste

from .tables import SCALE_MIN, scale_table, scale_to_index

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

    def _lrp(self, support_for_mean, y_hat_slice, i):
        r = self.lrp_nets[i](torch.cat(support_for_mean + [y_hat_slice], dim=1))
        return 0.5 * torch.tanh(r) if self.lrp_activation == "tanh" else r.clamp(-0.5, 0.5)

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
            decoded.append(y_hat + self._lrp(mean_support, y_hat, i))
            likelihoods.append(lik)
        return torch.cat(decoded, dim=1), torch.cat(likelihoods, dim=1)

    def compress(self, y, latent_means, latent_scales):
        """Returns (y_bar, groups): groups is a list of (table_set, symbols, table_ids), one per slice, in
        the order the decoder reads them."""
        decoded, groups = [], []
        for i, y_slice in enumerate(y.chunk(self.num_slices, dim=1)):
            mean_support, mu, sigma = self._slice_params(i, latent_means, latent_scales, decoded)
            symbols = torch.round(y_slice - mu)
            groups.append((TABLE_SET, symbols.to(torch.int64), scale_to_index(sigma)))
            y_hat = symbols + mu
            decoded.append(y_hat + self._lrp(mean_support, y_hat, i))
        return torch.cat(decoded, dim=1), groups

    def decompress(self, read_symbols, latent_means, latent_scales):
        """read_symbols(table_set, table_ids) -> int64 symbols of the same shape, from the bitstream."""
        decoded = []
        for i in range(self.num_slices):
            mean_support, mu, sigma = self._slice_params(i, latent_means, latent_scales, decoded)
            symbols = read_symbols(TABLE_SET, scale_to_index(sigma))
            y_hat = symbols.to(mu.dtype) + mu
            decoded.append(y_hat + self._lrp(mean_support, y_hat, i))
        return torch.cat(decoded, dim=1)
