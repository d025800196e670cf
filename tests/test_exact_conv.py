"""Exact integer convolution through int8 digit planes (model/entropy/exact_conv.py) against float64
convolution, which is exact for these magnitudes."""
import pytest
import torch
import torch.nn.functional as F

from icisp_codec.model.entropy import exact_conv
from icisp_codec.model.entropy.exact_conv import ExactConv2d, digits, planes_needed


@pytest.mark.parametrize("peak", [0, 1, 127, 128, 32767, 32768, 2**20, 2**30])
def test_digit_planes_represent_every_value(peak):
    t = torch.tensor([-peak, -peak + 1, 0, peak - 1, peak], dtype=torch.int64)
    count = planes_needed(peak)
    planes = digits(t, count)
    assert planes.dtype == torch.int8 and planes.shape[0] == count
    total = sum(planes[i].to(torch.int64) * 256**i for i in range(count))
    assert torch.equal(total, t)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 5, 7, 9), (1, 40, 6, 11)])
@pytest.mark.parametrize("band", [7, 8192])  # several row bands, and one
def test_convolution_is_exact(shape, band, monkeypatch):
    monkeypatch.setattr(exact_conv, "BAND_POSITIONS", band)
    g = torch.Generator().manual_seed(sum(shape) + band)
    a = torch.randint(-(2**20), 2**20 + 1, shape, generator=g)
    weight = torch.randint(-2047, 2048, (13, shape[1], 3, 3), generator=g)
    bias = torch.randint(-(2**30), 2**30, (13,), generator=g)
    expected = F.conv2d(a.double(), weight.double(), bias.double(), padding=1)
    result = ExactConv2d(weight, bias, padding=1)(a)
    assert result.dtype == torch.int64
    assert torch.equal(result.double(), expected)
