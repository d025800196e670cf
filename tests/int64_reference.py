"""An independent implementation of the integer context path in numpy int64 (tests only).

It re-derives the integer weights from the float weights with numpy, convolves with int64 im2col
products, and rescales with integer shifts, so it shares no arithmetic with icisp_codec's int8-digit/torch
implementation; the two must agree exactly.
"""
import numpy as np

FRACTION_BITS, WEIGHT_BITS, LIMIT = 8, 12, 2**20


def quantize_conv(weight, bias):
    w = weight.astype(np.float64)
    peak = np.maximum(np.abs(w.reshape(w.shape[0], -1)).max(axis=1), 2.0**-60)
    _, peak_exp = np.frexp(peak)
    e = (WEIGHT_BITS - 1) - peak_exp.astype(np.int64)
    limit = 2 ** (WEIGHT_BITS - 1) - 1
    w_int = np.clip(np.round(w * np.ldexp(1.0, e)[:, None, None, None]), -limit, limit).astype(np.int64)
    b_int = np.round(bias.astype(np.float64) * np.ldexp(1.0, e + FRACTION_BITS)).astype(np.int64)
    return w_int, b_int, e


def conv2d(a, w_int, b_int, e, padding):
    """a: (C, H, W) int64 -> (O, H, W) int64 on the activation grid."""
    c, h, w = a.shape
    k = w_int.shape[-1]
    padded = np.pad(a, ((0, 0), (padding, padding), (padding, padding)))
    cols = np.stack([padded[:, i : i + h, j : j + w] for i in range(k) for j in range(k)], axis=1)  # (C, k*k, H, W)
    acc = np.einsum("ckhw,ock->ohw", cols, w_int.reshape(w_int.shape[0], c, k * k)) + b_int[:, None, None]
    out = np.empty_like(acc)
    for o in range(acc.shape[0]):
        if e[o] > 0:
            out[o] = (acc[o] + (1 << int(e[o] - 1))) >> int(e[o])
        else:
            out[o] = acc[o] << int(-e[o])
    return np.clip(out, -LIMIT, LIMIT)


def pixel_shuffle(a, r):
    c, h, w = a.shape
    return a.reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(c // (r * r), h * r, w * r)


def run(sequential, a):
    """Evaluate a torch nn.Sequential of Conv2d/ReLU/PixelShuffle on an int64 numpy array."""
    import torch.nn as nn

    for m in sequential:
        if isinstance(m, nn.Conv2d):
            w_int, b_int, e = quantize_conv(m.weight.detach().numpy(), m.bias.detach().numpy())
            a = conv2d(a, w_int, b_int, e, m.padding[0])
        elif isinstance(m, nn.ReLU):
            a = np.maximum(a, 0)
        elif isinstance(m, nn.PixelShuffle):
            a = pixel_shuffle(a, m.upscale_factor)
        else:
            raise TypeError(type(m))
    return a
