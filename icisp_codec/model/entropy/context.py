"""Context engines: how the coding means and scale indices are computed from decoded data.

The coding loop (HyperpriorLatentCodec, ChannelARLatentCodec._code) is written once against this interface;
an engine is the strategy it is given, and decides the number format:

- FloatEngine runs the networks in floating point (any configuration; the `paper` model's only option).
  Files decode correctly where the decoder's float results match the encoder's to the last bit.
- IntegerEngine runs the context path (hyper-synthesis, slice nets, LRP) in exact integer arithmetic, so
  means and scale indices are the same on every machine, thread count and device: see docs/portability.md.
  It needs a context path of convolutions, ReLUs, pixel shuffles and clamps (`lite`).

Representations: FloatEngine works on float tensors; IntegerEngine on int32 tensors of integers on a
fixed-point grid of 2^-FRACTION_BITS (latent values) — to_float converts back.
"""
import torch
import torch.nn as nn

from .exact_conv import ExactConv3x3
from .tables import scale_to_index

FRACTION_BITS = 8  # activations and latents on a 1/256 grid
ACTIVATION_LIMIT = 2**20  # |activation| < 2^20 (4096.0): clamped, so every product and sum stays exact
WEIGHT_BITS = 12  # weights as integers in [-2047, 2047] with a power-of-two scale per output channel


class FloatEngine:
    """The networks as they are, in floating point."""

    kind = "float"

    def __init__(self, hyper_synthesis, slice_params, lrp):
        """hyper_synthesis(z_hat) -> (latent means, latent scales); slice_params(i, mean_support,
        scale_support) -> (mean, scale); lrp(i, support) -> correction."""
        self.hyper_synthesis, self._slice_params, self.lrp = hyper_synthesis, slice_params, lrp

    def hyper(self, z_symbols, medians):
        return self.hyper_synthesis(z_symbols.to(medians.dtype) + medians)

    def slice_params(self, i, mean_support, scale_support):
        mu, sigma = self._slice_params(i, mean_support, scale_support)
        return mu, scale_to_index(sigma)

    def mean_as_float(self, mu):
        return mu

    def dequantize(self, symbols, mu):
        return symbols.to(mu.dtype) + mu

    def to_float(self, latent):
        return latent


def _same_size_3x3(conv):
    shape = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, conv.padding_mode)
    return shape == ((3, 3), (1, 1), (1, 1), (1, 1), 1, "zeros")


class IntegerNet:
    """A stack of 3x3 convolutions (stride 1, padding 1), ReLUs and pixel shuffles evaluated exactly on integers
    (int32 activations, int64 accumulators).

    Weights: w_int = round(w * 2^e_c), e_c the largest exponent with |w_int| <= 2^(WEIGHT_BITS-1) - 1;
    biases at the accumulator's scale 2^-(FRACTION_BITS + e_c). Each convolution is exact (exact_conv.py);
    its accumulator is rescaled to the activation grid by an arithmetic shift with round-half-up
    (floor(x + 1/2)), then clamped to ±ACTIVATION_LIMIT. Every step is integer arithmetic, so the result is
    independent of the machine, the thread count and the device.
    """

    def __init__(self, sequential, final_clamp=None):
        self.layers = []
        for m in sequential:
            if isinstance(m, nn.Conv2d) and _same_size_3x3(m):
                w_int, b_int, e = self._quantize(m)
                self.layers.append(("conv", ExactConv3x3(w_int, b_int), e.view(1, -1, 1, 1)))
            elif isinstance(m, nn.ReLU):
                self.layers.append(("relu",))
            elif isinstance(m, nn.PixelShuffle):
                self.layers.append(("shuffle", m.upscale_factor))
            else:
                raise TypeError(f"{m} has no exact integer form (3x3 stride-1 convolutions, ReLU, pixel shuffle)")
        self.final_clamp = final_clamp
        self.device = torch.device("cpu")

    @staticmethod
    def _quantize(conv):
        w = conv.weight.detach().double().cpu()
        peak = w.flatten(1).abs().amax(dim=1).clamp(min=2.0**-60)
        limit = 2 ** (WEIGHT_BITS - 1) - 1
        _, peak_exp = torch.frexp(peak)  # peak in [2^(p-1), 2^p): exact
        e = (WEIGHT_BITS - 1) - peak_exp  # |w| * 2^e < 2^(WEIGHT_BITS-1)
        w_int = torch.round(w * torch.pow(2.0, e.double()).view(-1, 1, 1, 1)).clamp(-limit, limit)
        bias = torch.zeros(w.shape[0], dtype=torch.float64) if conv.bias is None else conv.bias.detach().double().cpu()
        b_int = torch.round(bias * torch.pow(2.0, (e + FRACTION_BITS).double()))
        return w_int.to(torch.int64), b_int.to(torch.int64), e.to(torch.int64)

    def _to(self, device):
        if device != self.device:
            self.layers = [(kind, rest[0].to(device), rest[1].to(device)) if kind == "conv" else (kind, *rest)
                           for kind, *rest in self.layers]
            self.device = device

    def __call__(self, a):
        """a: int32 (B, C, H, W) on the 2^-FRACTION_BITS grid -> int32 on the same grid."""
        import torch.nn.functional as F

        self._to(a.device)
        for layer in self.layers:
            if layer[0] == "conv":
                _, conv, e = layer
                acc = conv(a)
                shift, lift = e.clamp(min=0), (-e).clamp(min=0)
                half = torch.where(e > 0, torch.ones_like(e) << (shift - 1).clamp(min=0), torch.zeros_like(e))
                a = torch.where(e > 0, (acc + half) >> shift, acc << lift)
                a = a.clamp(-ACTIVATION_LIMIT, ACTIVATION_LIMIT).to(torch.int32)
            elif layer[0] == "relu":
                a = a.clamp(min=0)
            else:
                a = F.pixel_shuffle(a, layer[1])
        if self.final_clamp is not None:
            a = a.clamp(-self.final_clamp, self.final_clamp)
        return a


def supports_integer_path(cfg) -> bool:
    return cfg.hyper_branches == 1 and cfg.context_activation == "relu" and cfg.lrp_activation == "clip"


class IntegerEngine:
    kind = "integer"
    ONE = 2**FRACTION_BITS

    def __init__(self, hyper_trunk, mean_nets, scale_nets, lrp_nets, scale_thresholds):
        """The float networks (conv/ReLU/PixelShuffle stacks) to quantise, and the row thresholds."""
        self.hyper_net = IntegerNet(hyper_trunk)
        self.mean_nets = [IntegerNet(n) for n in mean_nets]
        self.scale_nets = [IntegerNet(n) for n in scale_nets]
        self.lrp_nets = [IntegerNet(n, final_clamp=self.ONE // 2) for n in lrp_nets]
        self.thresholds = scale_thresholds.double()

    def hyper(self, z_symbols, medians):
        medians_int = torch.round(medians.double() * self.ONE).to(torch.int32)  # exact: float32 times 2^8
        z_int = z_symbols.to(torch.int32) * self.ONE + medians_int
        return self.hyper_net(z_int).chunk(2, dim=1)

    def slice_params(self, i, mean_support, scale_support):
        mu = self.mean_nets[i](torch.cat(mean_support, dim=1))
        sigma = self.scale_nets[i](torch.cat(scale_support, dim=1))
        # the number of thresholds at or below sigma
        index = torch.searchsorted(self.thresholds.to(sigma.device), sigma.double().contiguous(), right=True,
                                   out_int32=True)
        return mu, index

    def mean_as_float(self, mu):
        return (mu.double() / self.ONE).float()

    def dequantize(self, symbols, mu):
        return symbols.to(torch.int32) * self.ONE + mu

    def lrp(self, i, support):
        return self.lrp_nets[i](torch.cat(support, dim=1))

    def to_float(self, latent):
        return (latent.double() / self.ONE).float()
