"""Exact integer convolution through matrix products of digit planes.

The integer context path (context.py) convolves integers (activations |a| <= 2^20, weights |w| <= 2047) and
needs every result exact. float64 convolutions are exact but slow on CPUs (oneDNN has no float64 kernels).
Here each 3x3 convolution (ExactConv3x3) becomes matrix products: the operands are split into balanced
base-2^b digit planes small enough that every sum of products stays exact in the kernel's accumulator,
weight planes side by side along the columns, and the partial products are recombined in int64. Two kernels
compute those products; both are exact, so they give the same integers:

- int8: 8-bit digits, torch._int_mm (int8 x int8 -> int32). A digit product is at most 2^14, so a fan-in
  below 2^16 keeps every int32 sum exact. 3 x 2 digit-plane products for typical activations. Fast where
  the CPU has VNNI/AMX (or on CUDA): 0.31 s for the context path of a 768x512 image on a Xeon with AMX;
  without them PyTorch falls back to a reference loop (4 GOP/s on an AVX2-only EPYC: an 8.7 s encode).
- float64: the weights whole and activations in digits of up to 31 bits, as long as
  fan-in * 2^(a-1) * 2^(w-1) <= 2^53: every partial sum, in any order and with FMA, is an integer that
  float64 holds exactly. Through Winograd's transforms (ExactConv3x3) the fan-in is the input channels (at
  most 384), the transformed weights stay below 2^15 and the transformed activations within 4 x 2^20: one
  plane each, 16 dgemms per convolution, fast on every CPU (58 GFLOP/s on that EPYC).

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
    # shifted = rest + half, where rest is what the planes so far leave of t; int32 holds it when `count`
    # planes hold t in fewer than 32 bits
    shifted = t.to(torch.int32 if bits * count < 32 else torch.int64) + half
    planes = torch.empty((count, *t.shape), dtype=dtype, device=t.device)
    for plane in planes:
        plane.copy_((shifted & mask).sub_(half))
        shifted.bitwise_right_shift_(bits).add_(half)  # the next rest, (rest - digit) / 2^bits, plus half
    return planes


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
    # Whether convolutions take Winograd's F(2x2, 3x3): 2.25x fewer products for 4x more transformed inputs
    # to split into digits and products to recombine. It pays where the products dominate (float64); with
    # int8 the digit work dominates and it made a 768x512 encode 2.5x slower on an AMD Zen 5.
    winograd: bool

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
        """(rows, K) x (K, cols) digit planes -> their exact integer products (int32 or float64); batches of
        them with float64."""
        if self.name == "int8":
            rows = columns.shape[0]
            if rows < 17:  # CUDA's int8 kernel wants more than 16 rows
                return torch._int_mm(F.pad(columns, (0, 0, 0, 17 - rows)), weights)[:rows]
            return torch._int_mm(columns, weights)
        return columns @ weights  # (also batched) float64 has no reduced-precision (TF32/bf16) modes


INT8 = ProductKernel("int8", torch.int8, winograd=False)
FLOAT64 = ProductKernel("float64", torch.float64, winograd=True)


@lru_cache(maxsize=None)
def fastest_kernel(device_type):
    """The faster exact kernel on this device: each one's convolution route timed once per kind of CPU
    (~0.3 s) on a convolution shaped like the context path's, then remembered (device.cached_choice)."""
    if device_type == "cuda":
        return INT8  # int8 tensor cores
    from ...device import cached_choice

    name = cached_choice("exact-convolution", lambda: _time_kernels().name)
    return next(kernel for kernel in (INT8, FLOAT64) if kernel.name == name)


def _time_kernels():
    # Whole convolutions, not bare products: the routes multiply different amounts (float64 through
    # Winograd, 16/36 of the direct products) around different digit work. One thread and the best of three
    # runs, so that another busy process cannot flip the choice: the kernels differ >10x where int8 has no
    # fast path, and a wrong pick makes a 768x512 encode 11x slower.
    g = torch.Generator().manual_seed(0)
    weight = torch.randint(-2047, 2048, (96, 192, 3, 3), generator=g)
    # The context path's activations reach 2^6-2^12 on photos: two int8 digit planes, as here.
    a = torch.randint(-(2**11), 2**11, (1, 192, 16, 24), generator=g, dtype=torch.int32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        convs = {kernel: ExactConv3x3(weight, torch.zeros(96, dtype=torch.int64), kernel) for kernel in (INT8, FLOAT64)}
        timings = {kernel: min(_seconds(conv, a) for _ in range(3)) for kernel, conv in convs.items()}
    finally:
        torch.set_num_threads(threads)
    return min(timings, key=timings.get)


def _seconds(conv, a):
    start = time.perf_counter()
    conv(a)
    return time.perf_counter() - start


# Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast algorithms for convolutional neural
# networks", 2016): each 2x2 block of outputs is A^T [(G g G^T) * (B^T d B)] A for the 4x4 block of inputs d
# around it. B and A are integer; G holds halves, so the filters are transformed with 2G (4x the transformed
# filter, still integer) and the outputs divided by 4, exactly, since they are 4x the integer convolution.
FILTER_TRANSFORM = torch.tensor([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]])  # 2G
INPUT_GROWTH = 4  # |B^T d B| <= 4 max|d|: each entry sums four inputs with signs


def _input_transform(x, dim, out):
    """B^T along `dim` of x (length 2n + 2: n tiles of 4, overlapping by 2) into out (4, *x's shape with n at
    dim)."""
    n = out.shape[dim + 1]
    d0, d1, d2, d3 = (x[(slice(None),) * dim + (slice(r, r + 2 * n - 1, 2),)] for r in range(4))
    torch.sub(d0, d2, out=out[0])
    torch.add(d1, d2, out=out[1])
    torch.sub(d2, d1, out=out[2])
    torch.sub(d1, d3, out=out[3])
    return out


def _output_transform(m, dim, out=None):
    """A^T along `dim` (length 4) of m -> out, (2, *m's other dimensions)."""
    m0, m1, m2, m3 = m.unbind(dim)
    out = m0.new_empty((2, *m0.shape)) if out is None else out
    torch.add(m0, m1, out=out[0]).add_(m2)
    torch.sub(m1, m2, out=out[1]).sub_(m3)
    return out


class ExactConv3x3:
    """A 3x3, stride-1, padding-1 convolution of integer tensors with int64 weights (out, in, 3, 3) and bias,
    exactly. Two routes to the same integers, by the product kernel (ProductKernel.winograd):

    - Winograd: per band of 2x2 output tiles, the inputs' transforms (16 per tile and channel) become digit
      planes; each of the 16 transform elements is one matrix product with the transformed filters; the
      products are recombined in int64 and transformed back.
    - direct, without im2col: on the channels-last input, padded and flattened to (rows x padded width, C),
      the input that kernel tap (i, j) multiplies for a run of output positions is one contiguous slice,
      shifted by i * padded width + j. So the convolution is 9 products of such slices with the tap's
      weights, summed in the kernel's exact accumulator (outputs in the padding columns are computed and
      dropped); no 9x larger column buffer, which cost as much time as the products themselves.
    """

    def __init__(self, weight, bias, kernel=None):
        out_ch, in_ch, *size = weight.shape
        if size != [3, 3]:
            raise ValueError(f"an exact convolution is 3x3, not {size[0]}x{size[1]}")
        self.in_ch, self.out_ch = in_ch, out_ch
        # Padded to multiples of 8 (a requirement of CUDA's int8 kernels; zeros add nothing).
        self.in_padded, self.out_padded = _round_up(in_ch, 8), _round_up(out_ch, 8)
        padding = (0, 0, 0, 0, 0, self.in_padded - in_ch, 0, self.out_padded - out_ch)
        self.weight = F.pad(weight.to(torch.int64), padding)
        self.bias = bias.view(1, -1, 1, 1)
        self.chosen_kernel = kernel
        self._prepare(weight.device)

    def _prepare(self, device):
        """Weight digit planes for the kernel that will run on `device`: (E, C, Dw * O), per tap (direct) or
        per transform element (Winograd), the planes side by side."""
        self.kernel = self.chosen_kernel or fastest_kernel(device.type)
        if self.kernel.winograd:  # elements ordered (column, row) as the inputs' transforms are
            g = FILTER_TRANSFORM.to(device)
            operands, fan_in = torch.einsum("ai,ocij,bj->baco", g, self.weight, g), self.in_padded
        else:
            operands, fan_in = self.weight.permute(2, 3, 1, 0), 9 * self.in_padded
        operands = operands.reshape(-1, self.in_padded, self.out_padded)
        peak = int(operands.abs().max())
        self.bits, self.weight_bits = self.kernel.digit_bits(fan_in, peak)
        self.weight_digits = planes_needed(peak, self.weight_bits)
        planes = digits(operands, self.weight_digits, self.weight_bits).to(self.kernel.dtype)  # (Dw, E, C, O)
        self.weights = planes.permute(1, 2, 0, 3).reshape(len(operands), self.in_padded, -1).contiguous()

    def to(self, device):
        self.weight, self.bias = self.weight.to(device), self.bias.to(device)
        self._prepare(torch.device(device))
        return self

    def _recombine(self, products):
        """One (..., Dw * O) product per activation plane i -> int64 (..., O):
        sum_ij 2^(bits*i + weight_bits*j) * products[i][..., j, :]."""
        acc = None
        for i, product in enumerate(products):
            product = product.view(*product.shape[:-1], self.weight_digits, self.out_padded)
            for j in range(self.weight_digits):
                term = product[..., j, :].to(torch.int64)
                if i or j:
                    term <<= self.bits * i + self.weight_bits * j
                acc = term if acc is None else acc.add_(term)
        return acc

    def __call__(self, a):
        """a: integer (1, C, H, W), |a| < 2^31 -> int64 (1, out, H, W). Computed in bands of rows, so that
        the products stay small on big latents."""
        _, _, h, w = a.shape
        low, high = a.aminmax()  # (not abs().max(): no copy of a big tensor)
        peak = max(-int(low), int(high))
        x = a[0].permute(1, 2, 0)  # channels last
        out = self._winograd(x, peak) if self.kernel.winograd else self._direct(x, peak)
        return out[:h, :w, : self.out_ch].permute(2, 0, 1).unsqueeze(0) + self.bias

    def _band_rows(self, count, width):
        """Rows per band (of outputs, or of tiles), each `width` positions wide: their digit planes and
        products within COLUMN_BYTES."""
        row_bytes = count * width * (self.in_padded + self.weights.shape[-1]) * 8
        return max(1, COLUMN_BYTES // row_bytes)

    def _direct(self, x, peak):
        h, w, _ = x.shape
        count = planes_needed(peak, self.bits)
        # in the kernel's type; one extra bottom row: the last taps' slices run 2 past the end
        planes = digits(x, count, self.bits).to(self.kernel.dtype)
        padded_width = w + 2
        flat = F.pad(planes, (0, self.in_padded - self.in_ch, 1, 1, 1, 2)).reshape(count, -1, self.in_padded)
        band = self._band_rows(count, padded_width)
        out = torch.empty(h, padded_width, self.out_padded, dtype=torch.int64, device=x.device)
        for r0 in range(0, h, band):
            n = min(band, h - r0) * padded_width
            products = []
            for plane in flat:  # the sum over taps of this plane's products, (n, Dw * O)
                acc = None
                for tap in range(9):
                    start = (r0 + tap // 3) * padded_width + tap % 3
                    product = self.kernel(plane[start : start + n], self.weights[tap])
                    acc = product if acc is None else acc.add_(product)
                products.append(acc)
            acc = self._recombine(products)
            out[r0 : r0 + n // padded_width] = acc.view(-1, padded_width, self.out_padded)
        return out

    def _winograd(self, x, peak):
        h, w, _ = x.shape
        peak *= INPUT_GROWTH
        count = planes_needed(peak, self.bits)
        n, m = -(-h // 2), -(-w // 2)  # 2x2 output tiles
        # The transforms in the kernel's type where it takes them whole (one float plane: no digit copies),
        # else in int32 as long as it holds them.
        whole = count == 1 and self.kernel.dtype.is_floating_point
        dtype = self.kernel.dtype if whole else torch.int32 if peak < 2**31 else torch.int64
        # padded by one (the convolution's padding) and to whole tiles
        x = F.pad(x.to(dtype), (0, self.in_padded - self.in_ch, 1, 2 * m + 1 - w, 1, 2 * n + 1 - h))
        band = self._band_rows(count, 16 * m)  # tile rows: 16 transformed inputs per tile
        out = torch.empty(n, 2, m, 2, self.out_padded, dtype=torch.int64, device=x.device)
        for t0 in range(0, n, band):
            t1 = min(n, t0 + band)
            planes = self._transformed_planes(x[2 * t0 : 2 * t1 + 2], count, whole)
            products = [self.kernel(plane, self.weights) for plane in planes]  # (16, T, Dw * O) each
            acc = self._recombine(products)
            by_rows = _output_transform(acc.view(4, 4, t1 - t0, m, self.out_padded), 1)  # (row, column, ...)
            _output_transform(by_rows, 1, out=out[t0:t1].permute(3, 1, 0, 2, 4))  # (column, row, tile, ...)
        return out.view(2 * n, 2 * m, self.out_padded) >> 2  # the filters were transformed at 4x

    def _transformed_planes(self, rows, count, whole):
        """rows: the padded input (2n + 2, 2m + 2, C) of n x m tiles -> digit planes of its transforms,
        (D, 16, n * m, C) in the kernel's type, elements ordered (column, row)."""
        n, m = (rows.shape[0] - 2) // 2, (rows.shape[1] - 2) // 2
        by_rows = _input_transform(rows, 0, rows.new_empty((4, n, rows.shape[1], self.in_padded)))
        v = _input_transform(by_rows, 2, rows.new_empty((4, 4, n, m, self.in_padded))).view(16, n * m, -1)
        return v.unsqueeze(0) if whole else digits(v, count, self.bits).to(self.kernel.dtype)
