"""The semantic-informed discriminator (docs/model.md).

D(image, y_bar, original) -> patch logits. A frozen semantic encoder sees only the original; its features and
the decoder-side latent y_bar are fused by AFFB (selective-kernel fusion) into a 12-channel condition, which
modulates a spectral-norm PatchGAN through dynamic SFT layers after each of its first three convolutions.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

COND = 12


class AFFB(nn.Module):
    """Adaptive feature fusion of two branches: softmax attention over branches from pooled statistics."""

    def __init__(self, channels=COND, reduction=2, branches=2):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1, bias=False), nn.LeakyReLU(0.2))
        self.excite = nn.ModuleList(nn.Conv2d(channels // reduction, channels, 1, bias=False) for _ in range(branches))

    def forward(self, branches):
        pooled = self.squeeze(sum(branches).mean(dim=(2, 3), keepdim=True))
        attention = torch.stack([e(pooled) for e in self.excite], dim=0).softmax(dim=0)
        return sum(a * b for a, b in zip(attention, branches))


class DynamicSFT(nn.Module):
    """Four SFT branches, each modulating the first ⌊C·r⌋ channels (r = 1/2, 2/3, 3/4, 4/5) by a scale and
    shift predicted from the condition; outputs mixed by learned scalars and a 1x1 conv."""

    RATIOS = (1 / 2, 2 / 3, 3 / 4, 4 / 5)

    def __init__(self, channels):
        super().__init__()

        def head(k):
            return nn.Sequential(nn.Conv2d(COND, k, 1), nn.LeakyReLU(0.1), nn.Conv2d(k, k, 1))

        self.splits = [int(channels * r) for r in self.RATIOS]
        self.scales = nn.ModuleList(head(k) for k in self.splits)
        self.shifts = nn.ModuleList(head(k) for k in self.splits)
        self.mix = nn.Parameter(torch.full((len(self.RATIOS),), 0.2))
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, cond):
        cond = F.interpolate(cond, size=x.shape[-2:], mode="nearest")
        mixed = 0
        for w, k, scale, shift in zip(self.mix, self.splits, self.scales, self.shifts):
            modulated = x[:, :k] * scale(cond) + shift(cond)
            mixed = mixed + w * torch.cat([x[:, k:], modulated], dim=1)
        return self.out(mixed)


class SemanticDiscriminator(nn.Module):
    def __init__(self, semantic_encoder, latent_channels, widths=(64, 128, 256, 512)):
        super().__init__()
        self.semantic = semantic_encoder  # frozen; not part of the trainable state
        self.semantic_in = nn.Sequential(
            nn.Conv2d(semantic_encoder.semantic_channels, COND, 3, padding=1, padding_mode="reflect"),
            nn.LeakyReLU(0.2),
        )
        self.latent_in = nn.Sequential(
            nn.Conv2d(latent_channels, COND, 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.2)
        )
        self.fuse = AFFB()
        chans = (3,) + tuple(widths)
        self.convs = nn.ModuleList(
            spectral_norm(nn.Conv2d(a, b, 4, stride=2, padding=1, padding_mode="reflect"))
            for a, b in zip(chans[:-1], chans[1:])
        )
        self.sfts = nn.ModuleList(DynamicSFT(w) for w in widths[:-1])
        self.head = nn.Conv2d(widths[-1], 1, 1)

    def trainable_state_dict(self):
        return {k: v for k, v in self.state_dict().items() if not k.startswith("semantic.")}

    def condition(self, y_bar, original):
        with torch.no_grad():
            semantic = self.semantic.semantic_map(original)
        semantic = F.interpolate(semantic, size=y_bar.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse([self.semantic_in(semantic), self.latent_in(y_bar)])

    def forward(self, image, y_bar, original, cond=None):
        """Patch logits (B, P). `cond` may be passed in to share one condition between real and fake."""
        if cond is None:
            cond = self.condition(y_bar, original)
        h = image
        for i, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)
            if i < len(self.sfts):
                h = self.sfts[i](h, cond)
        return self.head(h).flatten(1)
