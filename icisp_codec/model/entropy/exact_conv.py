"""Exact integer convolution through int8 matrix products.

The integer context path (context.py) convolves integers (activations |a| <= 2^20, weights |w| <= 2047) and
needs every result exact. float64 convolutions are exact but run 4-5x slower than float32 on CPUs (oneDNN has
no float64 kernels). Here both operands are split into balanced base-256 digits in [-128, 127]; all digit
planes go through one torch._int_mm (int8 x int8 -> int32; VNNI/AMX kernels on x86), activation planes stacked
along the rows and weight planes along the columns, and the partial products are recombined in int64. A digit product is at most 2^14, so a fan-in below 2^16 keeps every int32
sum exact, and the recombined int64 sums stay far below 2^63: the result is the same integer as any exact
convolution, whatever the kernel, thread count or machine.
"""
import torch
import torch.nn.functional as F

MAX_FAN_IN = 2**16
BAND_POSITIONS = 8192  # output positions per int8 product: bounds the im2col buffer (~50 MB)


def digits(t, count):
    """Integer tensor -> int8 digit planes stacked on a new first dimension, t = sum_i d_i * 256^i, with
    d_i in [-128, 127]. `count` planes must be enough for the values of t."""
    planes, rest = [], t.to(torch.int32)
    for _ in range(count):
        digit = rest.to(torch.int8)  # the low byte, read as signed: rest - digit is a multiple of 256
        planes.append(digit)
        rest = (rest + 128) >> 8  # == (rest - digit) / 256
    return torch.stack(planes)


def planes_needed(peak):
    """Number of balanced base-256 digits that represent every integer with |value| <= peak."""
    count, reach = 1, 127
    while reach < peak:
        count, reach = count + 1, reach * 256 + 127
    return count


def _round_up(n, multiple):
    return -(-n // multiple) * multiple


class ExactConv2d:
    """A stride-1 convolution of integer tensors with int64 weights (out, in, k, k) and bias, exactly."""

    def __init__(self, weight, bias, padding):
        out_ch, in_ch, k, _ = weight.shape
        self.fan_in = in_ch * k * k
        if self.fan_in >= MAX_FAN_IN:
            raise ValueError(f"fan-in {self.fan_in} is too large for exact int32 partial products")
        self.k, self.padding, self.out_ch = k, padding, out_ch
        # Padded to multiples of 8 (a requirement of CUDA's int8 kernels; zeros add nothing). Rows ordered
        # (kernel row, kernel column, input channel), as _columns lays out its columns.
        self.fan_in_padded, self.out_padded = _round_up(self.fan_in, 8), _round_up(out_ch, 8)
        matrix = weight.permute(0, 2, 3, 1).reshape(out_ch, self.fan_in).t()
        matrix = F.pad(matrix, (0, self.out_padded - out_ch, 0, self.fan_in_padded - self.fan_in))
        self.weight_digits = planes_needed(int(matrix.abs().max()))
        planes = digits(matrix, self.weight_digits)  # (Dw, K, O)
        self.weights = planes.permute(1, 0, 2).reshape(self.fan_in_padded, -1).contiguous()  # (K, Dw*O)
        self.bias = bias.view(1, -1, 1, 1)

    def to(self, device):
        self.weights, self.bias = self.weights.to(device), self.bias.to(device)
        return self

    def _columns(self, padded, rows, width):
        """im2col of int8 digit planes, channels last and padded (D, H + 2p, W + 2p, C), for output rows
        `rows` -> (max(D*R*W, 17), fan-in padded): k*k shifted copies of C-byte runs."""
        d, k = padded.shape[0], self.k
        band = padded[:, rows.start : rows.stop + k - 1]
        r = rows.stop - rows.start
        shifted = [band[:, i : i + r, j : j + width] for i in range(k) for j in range(k)]
        cols = torch.cat(shifted + [band.new_zeros(d, r, width, self.fan_in_padded - self.fan_in)], dim=3)
        cols = cols.reshape(d * r * width, self.fan_in_padded)
        if d * r * width < 17:  # CUDA's int8 kernel wants more than 16 rows
            cols = F.pad(cols, (0, 0, 0, 17 - d * r * width))
        return cols

    def __call__(self, a):
        """a: integer (1, C, H, W), |a| < 2^31 -> int64 (1, out, H, W). Computed in bands of rows, so that
        the im2col buffer stays small on big latents."""
        _, _, h, w = a.shape
        low, high = a.aminmax()  # (not abs().max(): no copy of a big tensor)
        count = planes_needed(max(-int(low), int(high)))
        p = self.padding
        padded = F.pad(digits(a[0].permute(1, 2, 0), count), (0, 0, p, p, p, p))
        band_rows = max(1, BAND_POSITIONS // w)
        out = torch.empty(h, w, self.out_ch, dtype=torch.int64, device=a.device)
        for r0 in range(0, h, band_rows):
            rows = slice(r0, min(r0 + band_rows, h))
            r = rows.stop - r0
            products = torch._int_mm(self._columns(padded, rows, w), self.weights)[: count * r * w]
            products = products.view(count, r * w, self.weight_digits, self.out_padded).to(torch.int64)
            acc = products[0, :, 0]
            for i in range(count):  # recombine: acc = sum_ij 256^(i+j) * products[i, :, j]
                for j in range(self.weight_digits):
                    if i + j:
                        acc = acc + products[i, :, j] * 256 ** (i + j)
            out[rows] = acc[:, : self.out_ch].view(r, w, self.out_ch)
        return out.permute(2, 0, 1).unsqueeze(0) + self.bias
