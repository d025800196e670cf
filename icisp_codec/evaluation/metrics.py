"""Image quality metrics on uint8 RGB arrays.

- PSNR on 8-bit RGB (all three channels pooled).
- MS-SSIM on RGB (pytorch-msssim, 5 scales, data range 255); undefined (NaN) for images under 161 px a side.
- LPIPS-HED: see lpips_hed.py. Not the published LPIPS; always labelled as LPIPS-HED.
"""
import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


MS_SSIM_MIN_SIDE = 161  # 5 scales of an 11-tap window


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    import torch

    from .optional import require

    pytorch_msssim = require("pytorch_msssim", "MS-SSIM")
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].double()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].double()
    return float(pytorch_msssim.ms_ssim(ta, tb, data_range=255, size_average=True))
