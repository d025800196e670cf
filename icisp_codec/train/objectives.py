"""Training objectives for the two stages (docs/model.md).

Stage 1: λ·bpp + 435.6·MSE (the paper's λ=0.0067 distortion weight) with λ the per-sample rate weight
(λ^k with --rate-exponent k; the loop passes the rate weight in).
Stage 2: λ·bpp + 26·MSE + 5·perceptual + 2000·style + 0.8·hinge_G(D(x̂, ȳ, x)), and the hinge D loss.
The adversarial term uses D's output on x̂ (the authors' released script passes x̂ itself, which silently
disables the GAN; see tests/test_train.py::test_discriminator_drives_the_generator).
"""
import torch
import torch.nn.functional as F

from .discriminator import SemanticDiscriminator
from .losses import MSE_WEIGHT_STAGE1, bits_per_pixel, mse_per_sample, psnr
from .perceptual import perceptual_and_style
from .semantic import EfficientNetLite0, build_semantic_encoder

STAGE2_WEIGHTS = {"mse": 0.0004 * 255**2, "perceptual": 5.0, "style": 2000.0, "adversarial": 0.8}


class Stage1:
    has_discriminator = False

    def generator_loss(self, out, x, rate_weight):
        bpp = bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1])
        mse = mse_per_sample(out["x_hat"], x)
        loss = (rate_weight * bpp + MSE_WEIGHT_STAGE1 * mse).mean()
        return loss, {"bpp": bpp.mean().item(), "mse": mse.mean().item(), "psnr": psnr(mse).mean().item()}


class Stage2:
    has_discriminator = True

    def __init__(self, latent_channels, semantic="efficientnet-lite0", semantic_weights=None, weights=None):
        unknown = set(weights or {}) - set(STAGE2_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown stage-2 loss term(s) {sorted(unknown)}; known: {sorted(STAGE2_WEIGHTS)}")
        self.weights = dict(STAGE2_WEIGHTS, **(weights or {}))
        self.features = EfficientNetLite0()
        semantic_encoder = self.features if semantic == "efficientnet-lite0" else build_semantic_encoder(
            semantic, semantic_weights
        )
        self.discriminator = SemanticDiscriminator(semantic_encoder, latent_channels)

    def to(self, device):
        self.features.to(device)
        self.discriminator.to(device)
        return self

    def weighted_terms(self, out, x, rate_weight):
        """Each term of the generator loss, per sample and already weighted, and the logged statistics."""
        w = self.weights
        x_hat = out["x_hat"].float()
        bpp = bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1])
        mse = mse_per_sample(x_hat, x)
        x_clamped = x_hat.clamp(0, 1)
        with torch.no_grad():
            real_features = self.features(x)
        perceptual, style = perceptual_and_style(self.features(x_clamped), real_features)
        if w["adversarial"]:
            adversarial = self._generator_hinge(x_clamped, out["y_bar"].detach().float(), x)
        else:  # D warm-up: D still trains in its own step, but a zero-weight term is not worth its pass
            adversarial = torch.zeros_like(bpp)
        terms = {"rate": rate_weight * bpp, "mse": w["mse"] * mse, "perceptual": w["perceptual"] * perceptual,
                 "style": w["style"] * style, "adversarial": w["adversarial"] * adversarial}
        stats = {"bpp": bpp.mean().item(), "mse": mse.mean().item(), "psnr": psnr(mse).mean().item(),
                 "perceptual": perceptual.mean().item(), "style": style.mean().item(),
                 "g_adv": adversarial.mean().item()}
        return terms, stats

    def generator_loss(self, out, x, rate_weight):
        terms, stats = self.weighted_terms(out, x, rate_weight)
        return sum(terms.values()).mean(), stats

    def _generator_hinge(self, x_hat, y_bar, x):
        self.discriminator.requires_grad_(False)  # G step: gradients flow through D to x̂, not into D
        logits = self.discriminator(x_hat, y_bar, x)
        self.discriminator.requires_grad_(True)
        self.discriminator.semantic.requires_grad_(False)
        return -logits.mean(dim=1)

    def discriminator_loss(self, out, x):
        y_bar = out["y_bar"].detach().float()
        cond = self.discriminator.condition(y_bar, x)
        real = self.discriminator(x, y_bar, x, cond=cond)
        fake = self.discriminator(out["x_hat"].detach().float().clamp(0, 1), y_bar, x, cond=cond)
        loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return loss, {"d_loss": loss.item(), "d_real": real.mean().item(), "d_fake": fake.mean().item()}
