"""Random training crops from a folder of images, held in memory as uint8.

No DataLoader workers: on 2 cores there is no spare core, and cropping from RAM costs next to nothing.
Augmentation: random scale (downscale by 1-1.5x before cropping), random crop, horizontal/vertical flips.
"""
import numpy as np
import torch
import torch.nn.functional as F

from ..image_io import list_images, load_rgb


class CropSampler:
    def __init__(self, folders, crop=256, scale_jitter=1.5, seed=0):
        paths = [p for folder in folders for p in list_images(folder)]
        if not paths:
            raise FileNotFoundError(f"no images found in {', '.join(map(str, folders))}")
        self.images = [load_rgb(p) for p in paths]
        self.images = [im for im in self.images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no image is at least {crop} pixels on its short side")
        self.crop, self.scale_jitter = crop, scale_jitter
        self.rng = np.random.default_rng(seed)

    def state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state

    def _one(self):
        im = self.images[self.rng.integers(len(self.images))]
        h, w = im.shape[:2]
        side = min(int(self.crop * self.rng.uniform(1.0, self.scale_jitter)), h, w)
        top, left = self.rng.integers(h - side + 1), self.rng.integers(w - side + 1)
        patch = torch.from_numpy(np.ascontiguousarray(im[top : top + side, left : left + side]))
        patch = patch.permute(2, 0, 1).float().div(255)
        if side != self.crop:
            patch = F.interpolate(patch[None], size=(self.crop, self.crop), mode="bilinear", antialias=True,
                                  align_corners=False)[0]
        if self.rng.random() < 0.5:
            patch = patch.flip(-1)
        if self.rng.random() < 0.5:
            patch = patch.flip(-2)
        return patch.clamp(0, 1)

    def batch(self, size):
        return torch.stack([self._one() for _ in range(size)])
