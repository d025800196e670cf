"""Exact integer convolution through matrix products of digit planes.

The integer context path (context.py) convolves integers (activations |a| <= 2^20, weights |w| <= 2047) and
needs every result exact. float64 convolutions are exact but slow on CPUs (oneDNN has no float64 kernels).
Here the convolution becomes matrix products, one per kernel tap, summed (ExactConv2d): the operands are
split into balanced base-2^b digit planes small enough that every sum of products stays exact in the kernel's
accumulator, weight planes side by side along the columns, and the partial products are recombined in int64.
Two kernels compute that product; both are exact, so they give the same integers:

- int8: 8-bit digits, torch._int_mm (int8 x int8 -> int32). A digit product is at most 2^14, so a fan-in
  below 2^16 keeps every int32 sum exact. 3 x 2 digit-plane products for typical activations. Fast where
  the CPU has VNNI/AMX (or on CUDA): 0.31 s for the context path of a 768x512 image on a Xeon with AMX;
  without them PyTorch falls back to a reference loop (4 GOP/s on an AVX2-only EPYC: an 8.7 s encode).
- float64: the weights whole (|w| < 2^11) and activations in 31-bit digits (one plane for |a| <= 2^20) as
  long as fan-in * 2^30 * 2^11 <= 2^53: every partial sum, in any order and with FMA, is an integer that
  float64 holds exactly. One dgemm per convolution, fast on every CPU (58 GFLOP/s on that EPYC).

Which one runs is measured once per kind of CPU and remembered (fastest_kernel); the decoded file cannot tell
the difference.
"""
import math
import time
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

COLUMN_BYTES = 64 * 2**20  # bound on one band's products; the band's row count follows from it


def digits(t, count, bits=8):
    """Integer tensor -> digit planes stacked on a new first dimension, t = sum_i d_i * 2^(bits*i), with
    d_i in [-2^(bits-1), 2^(bits-1) - 1]: int8 planes for bits <= 8, else int32. `count` planes must be
    enough for the values of t."""
    dtype = torch.int8 if bits <= 8 else torch.int32
    if count == 1:  # the digit is the value itself (the caller's count says it fits): no digit arithmetic
        return t.to(dtype).unsqueeze(0)
    half, mask = 1 << (bits - 1), (1 << bits) - 1
    planes, rest = [], t.to(torch.int64)
    for _ in range(count):
        planes.append(((rest + half) & mask) - half)
        rest = (rest + half) >> bits  # == (rest - digit) / 2^bits
    return torch.stack(planes).to(dtype)


def planes_needed(peak, bits=8):
    """Number of balanced base-2^bits digits that represent every integer with |value| <= peak."""
    top = (1 << (bits - 1)) - 1  # the largest digit; the negative side reaches one further
    count, reach = 1, top
    while reach < peak:
        count, reach = count + 1, (reach << bits) + top
    return count


def _round_up(n, multiple):
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class ProductKernel:
    name: str
    dtype: torch.dtype  # of the weight planes and of the product

    def digit_bits(self, fan_in, weight_peak):
        """(activation, weight) digit widths that keep every sum of `fan_in` digit products exact."""
        if self.name == "int8":
            if fan_in >= 2**16:
                raise ValueError(f"fan-in {fan_in} is too large for exact int32 partial products")
            return 8, 8
        weight_bits = max(2, int(weight_peak).bit_length() + 1)  # one plane: the weights whole
        # fan_in * 2^(a-1) * 2^(w-1) <= 2^53
        activation_bits = min(31, 55 - math.ceil(math.log2(max(fan_in, 1))) - weight_bits)
        if activation_bits < 2:
            raise ValueError(f"fan-in {fan_in} is too large for exact float64 partial products")
        return activation_bits, weight_bits

    def __call__(self, columns, weights):
        """(rows, K) x (K, cols) digit planes -> their exact integer products (int32 or float64)."""
        if self.name == "int8":
            rows = columns.shape[0]
            if rows < 17:  # CUDA's int8 kernel wants more than 16 rows
                return torch._int_mm(F.pad(columns, (0, 0, 0, 17 - rows)), weights)[:rows]
            return torch._int_mm(columns, weights)
        return columns @ weights  # float64 has no reduced-precision (TF32/bf16) modes


INT8 = ProductKernel("int8", torch.int8)
FLOAT64 = ProductKernel("float64", torch.float64)


@lru_cache(maxsize=None)
def fastest_kernel(device_type):
    """The faster exact kernel on this device: timed once per kind of CPU (~0.2 s) on a product shaped like
    the context path's, then remembered (device.cached_choice)."""
    if device_type == "cuda":
        return INT8  # int8 tensor cores
    from ...device import cached_choice

    name = cached_choice("exact-product", lambda: _time_kernels().name)
    return next(kernel for kernel in (INT8, FLOAT64) if kernel.name == name)


def _time_kernels():
    # One thread and the best of three runs, so that another busy process cannot flip the choice: the
    # kernels differ >10x where int8 has no fast path, and a wrong pick makes a 768x512 encode 11x slower.
    a = torch.randint(-64, 64, (256, 576), dtype=torch.int8)
    b = torch.randint(-64, 64, (576, 96), dtype=torch.int8)
    # the same work for each: int8 multiplies 3 x 2 digit planes where float64 multiplies one
    work = {INT8: (torch.cat([a] * 3), torch.cat([b] * 2, dim=1)), FLOAT64: (a.to(torch.float64), b.to(torch.float64))}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = {kernel: min(_seconds(kernel, *work[kernel]) for _ in range(3)) for kernel in work}
    finally:
        torch.set_num_threads(threads)
    return min(timings, key=timings.get)


def _seconds(kernel, a, b):
    start = time.perf_counter()
    kernel(a, b)
    return time.perf_counter() - start


class ExactConv2d:
    """A stride-1 convolution of integer tensors with int64 weights (out, in, k, k) and bias, exactly.

    No im2col: on the channels-last input, padded and flattened to (rows x padded width, C), the input that
    kernel tap (i, j) multiplies for a run of output positions is one contiguous slice, shifted by
    i * padded width + j. So the convolution is k*k products of such slices with the tap's weights, summed
    in the kernel's exact accumulator (outputs in the padding columns are computed and dropped). This
    writes no k*k-times larger column buffer, which cost as much time as the products themselves.
    """

    def __init__(self, weight, bias, padding, kernel=None):
        out_ch, in_ch, k, _ = weight.shape
        self.k, self.padding, self.in_ch, self.out_ch = k, padding, in_ch, out_ch
        # Padded to multiples of 8 (a requirement of CUDA's int8 kernels; zeros add nothing).
        self.in_padded, self.out_padded = _round_up(in_ch, 8), _round_up(out_ch, 8)
        self.fan_in = self.in_padded * k * k  # terms in one output's sum, over all taps
        taps = weight.permute(2, 3, 1, 0).reshape(k * k, in_ch, out_ch)  # (tap, in, out)
        self.taps = F.pad(taps, (0, self.out_padded - out_ch, 0, self.in_padded - in_ch))
        self.bias = bias.view(1, -1, 1, 1)
        self.chosen_kernel = kernel
        self._prepare(weight.device)

    def _prepare(self, device):
        """Weight digit planes for the kernel that will run on `device`."""
        self.kernel = self.chosen_kernel or fastest_kernel(device.type)
        peak = int(self.taps.abs().max())
        self.bits, self.weight_bits = self.kernel.digit_bits(self.fan_in, peak)
        self.weight_digits = planes_needed(peak, self.weight_bits)
        planes = digits(self.taps, self.weight_digits, self.weight_bits).to(self.kernel.dtype)  # (Dw, T, C, O)
        # per tap, the weight planes side by side: (T, C, Dw*O)
        self.weights = planes.permute(1, 2, 0, 3).reshape(self.k * self.k, self.in_padded, -1).contiguous()

    def to(self, device):
        self.taps, self.bias = self.taps.to(device), self.bias.to(device)
        self._prepare(torch.device(device))
        return self

    def _band(self, flat, plane, first_row, rows, padded_width):
        """Sum over taps of one activation plane's products for output rows first_row .. + rows, all
        padded-width columns: (rows * padded_width, Dw * O) in the kernel's accumulator type."""
        n = rows * padded_width
        acc = None
        for tap in range(self.k * self.k):
            i, j = divmod(tap, self.k)
            start = (first_row + i) * padded_width + j
            product = self.kernel(flat[plane, start : start + n], self.weights[tap])
            acc = product if acc is None else acc.add_(product)
        return acc

    def __call__(self, a):
        """a: integer (1, C, H, W), |a| < 2^31 -> int64 (1, out, H, W). Computed in bands of rows, so that
        the accumulators stay small on big latents."""
        _, _, h, w = a.shape
        low, high = a.aminmax()  # (not abs().max(): no copy of a big tensor)
        count = planes_needed(max(-int(low), int(high)), self.bits)
        p = self.padding
        # channels last, in the kernel's type; one extra bottom row: the last taps' slices run k-1 past the end
        planes = digits(a[0].permute(1, 2, 0), count, self.bits).to(self.kernel.dtype)
        padded = F.pad(planes, (0, self.in_padded - self.in_ch, p, p, p, p + 1))
        padded_width = w + 2 * p
        flat = padded.reshape(count, -1, self.in_padded)
        row_bytes = count * padded_width * self.weights.shape[-1] * 8
        band_rows = max(1, COLUMN_BYTES // row_bytes)
        out = torch.empty(h, w, self.out_ch, dtype=torch.int64, device=a.device)
        for r0 in range(0, h, band_rows):
            r = min(band_rows, h - r0)
            products = torch.stack([self._band(flat, i, r0, r, padded_width) for i in range(count)])
            products = products.view(count, r * padded_width, self.weight_digits, self.out_padded).to(torch.int64)
            acc = products[0, :, 0]
            for i in range(count):  # recombine: acc = sum_ij 2^(bits*i + weight_bits*j) * products[i, :, j]
                for j in range(self.weight_digits):
                    if i + j:
                        acc = acc + (products[i, :, j] << (self.bits * i + self.weight_bits * j))
            out[r0 : r0 + r] = acc.view(r, padded_width, self.out_padded)[:, :w, : self.out_ch]
        return out.permute(2, 0, 1).unsqueeze(0) + self.bias
