"""Exact integer convolution through Winograd transforms and digit planes (model/entropy/exact_conv.py), with
both product kernels, against float64 convolution, which is exact for these magnitudes."""
import pytest
import torch
import torch.nn.functional as F

from icisp_codec.model.entropy import exact_conv
from icisp_codec.model.entropy.exact_conv import FLOAT64, INT8, ExactConv3x3, digits, fastest_kernel, planes_needed


@pytest.mark.parametrize("bits", [6, 8, 12, 31])
@pytest.mark.parametrize("peak", [0, 1, 31, 32, 127, 128, 32767, 32768, 2**20, 2**30])
def test_digit_planes_represent_every_value(peak, bits):
    t = torch.tensor([-peak, -peak + 1, 0, peak - 1, peak], dtype=torch.int64)
    count = planes_needed(peak, bits)
    planes = digits(t, count, bits)
    assert planes.dtype == (torch.int8 if bits <= 8 else torch.int32) and planes.shape[0] == count
    assert planes.min().item() >= -(2 ** (bits - 1)) and planes.max().item() < 2 ** (bits - 1)
    total = sum(planes[i].to(torch.int64) << (bits * i) for i in range(count))
    assert torch.equal(total, t)


def test_float64_digits_keep_every_sum_below_2_pow_53():
    for fan_in in (8, 576, 3456, 16384, 2**20):
        for weight_peak in (1, 2047, 2**20):
            a_bits, w_bits = FLOAT64.digit_bits(fan_in, weight_peak)
            assert planes_needed(weight_peak, w_bits) == 1  # the weights whole
            assert fan_in * 2 ** (a_bits - 1) * 2 ** (w_bits - 1) <= 2**53
    # `lite`'s widest Winograd product: 384 input channels, filters transformed up to 9 x 2047: one plane of
    # activations up to ±2^29, far above the transformed activations' 4 x 2^20
    assert FLOAT64.digit_bits(384, 9 * 2047) == (30, 16)


@pytest.mark.parametrize("kernel", [INT8, FLOAT64], ids=lambda k: k.name)
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 5, 7, 9), (1, 40, 6, 11), (1, 384, 5, 4), (1, 16, 2, 3)])
@pytest.mark.parametrize("column_bytes", [7 * 1024, 64 * 2**20])  # several bands of tile rows, and one
def test_convolution_is_exact(kernel, shape, column_bytes, monkeypatch):
    monkeypatch.setattr(exact_conv, "COLUMN_BYTES", column_bytes)
    g = torch.Generator().manual_seed(sum(shape) + column_bytes)
    a = torch.randint(-(2**20), 2**20 + 1, shape, generator=g)
    a[0, 0, 0, 0] = 2**20  # the clamp limit itself
    if shape[2] > 1:
        a[0, -1, -1, -1] = -(2**31) + 1  # an int32 extreme: its transforms need int64 and more digit planes
    weight = torch.randint(-2047, 2048, (13, shape[1], 3, 3), generator=g)
    weight[0, 0] = 2047  # the largest transformed filter: 9 x 2047
    weight[1, 0] = torch.tensor([[2047, -2047, 2047], [-2047, 2047, -2047], [2047, -2047, 2047]])
    bias = torch.randint(-(2**30), 2**30, (13,), generator=g)
    expected = F.conv2d(a.double(), weight.double(), bias.double(), padding=1)
    result = ExactConv3x3(weight, bias, kernel=kernel)(a)
    assert result.dtype == torch.int64
    assert torch.equal(result.double(), expected)


@pytest.mark.parametrize("conv", [torch.nn.Conv2d(4, 4, 5, padding=2), torch.nn.Conv2d(4, 4, 3, padding=1, stride=2),
                                  torch.nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")], ids=str)
def test_only_same_size_3x3_convolutions_have_an_exact_form(conv):
    from icisp_codec.model.entropy.context import IntegerNet

    with pytest.raises(TypeError, match="no exact integer form"):
        IntegerNet(torch.nn.Sequential(conv))


def test_the_exact_convolution_refuses_other_kernel_sizes():
    with pytest.raises(ValueError, match="3x3"):
        ExactConv3x3(torch.ones(4, 4, 5, 5, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))


def test_fastest_kernel_is_one_of_the_exact_kernels():
    print(f"exact product kernel on this CPU: {fastest_kernel('cpu').name}")
    assert fastest_kernel("cpu") in (INT8, FLOAT64)
