"""Perceptual and style losses on frozen EfficientNet-Lite0 features.

The paper uses LPIPS-VGG and a VGG Gram-matrix style loss; ImageNet VGG16 weights cannot be had offline, and
the one VGG16 we have (HED) is reserved as the evaluation judge, so both losses use EfficientNet-Lite0 taps:
- perceptual: LPIPS's recipe without learned heads (unit-normalise channels, squared difference, spatial
  mean, mean over channels, sum over taps);
- style: L1 distance between Gram matrices of channel-normalised features, each divided by c·h·w.
"""


def _unit(f, eps=1e-10):
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


def _gram(f):
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def perceptual_and_style(features_fake, features_real):
    """(B,) perceptual and (B,) style distances from two lists of feature maps."""
    perceptual = 0
    style = 0
    for ff, fr in zip(features_fake, features_real):
        ff, fr = _unit(ff.float()), _unit(fr.float())
        perceptual = perceptual + (ff - fr).square().mean(dim=(1, 2, 3))
        style = style + (_gram(ff) - _gram(fr)).abs().mean(dim=(1, 2))
    return perceptual, style
