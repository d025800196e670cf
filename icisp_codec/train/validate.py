"""Validation during training: estimated bpp and PSNR at the rate presets on a folder's centre crops."""
import torch

from ..image_io import list_images, load_rgb, to_tensor
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


@torch.no_grad()
def validate(model, crops, lambdas):
    was_training = model.training
    model.eval()
    results = {}
    for lam in lambdas:
        bpps, psnrs = [], []
        for x in crops:
            out = model(x, lam)
            bpps.append(bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1]).item())
            psnrs.append(psnr(mse_per_sample(out["x_hat"].clamp(0, 1), x)).item())
        results[f"{lam:g}"] = {"bpp": sum(bpps) / len(bpps), "psnr": sum(psnrs) / len(psnrs)}
    model.train(was_training)
    return results
