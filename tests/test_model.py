"""Model structure: the paper configuration's size, the lite context path, shapes, gradients."""
import pytest
import torch
import torch.nn as nn

from icisp_codec.model import build_model, parameter_count

# Trainable parameters of the authors' released model (design/icisp-paper.md §1.7).
PAPER_PARAMS = 29_263_660


def test_paper_parameter_count():
    model = build_model("paper")
    without_gains = parameter_count(model) - parameter_count(model.gains)
    print(f"paper: {parameter_count(model):,} parameters ({without_gains:,} without the rate gains)")
    assert without_gains == PAPER_PARAMS
    assert abs(parameter_count(model) - PAPER_PARAMS) / PAPER_PARAMS < 0.01
    assert parameter_count(model.g_a) == 1_659_328
    assert parameter_count(model.g_s) == 3_463_308
    assert parameter_count(model.latent_codec.h_a) == 779_200


def test_paper_runs_forward_backward_and_codes(tmp_path):
    from icisp_codec.codec import Codec
    from icisp_codec.weights import save_weights

    torch.manual_seed(0)
    model = build_model("paper")
    x = torch.rand(1, 3, 64, 64)
    out = model(x, 2.5)
    assert out["x_hat"].shape == x.shape
    loss = out["x_hat"].square().mean() + sum(-lik.log2().sum() for lik in out["likelihoods"].values()) * 1e-6
    loss.backward()
    assert model.g_a[1].evssb.ss2d.A_log.grad is not None  # gradients reach the scan parameters
    model.build_tables()
    save_weights(model, tmp_path / "paper.pt")
    codec = Codec.load(tmp_path / "paper.pt", device="cpu")
    rgb = (torch.rand(40, 50, 3) * 255).byte().numpy()
    data, _ = codec.encode(rgb, 2.5)
    decoded, _ = codec.decode(data)
    assert decoded.shape == rgb.shape


def _context_path_modules(model):
    codec = model.latent_codec
    return [codec.h_s, *codec.y_codec.mean_nets, *codec.y_codec.scale_nets, *codec.y_codec.lrp_nets]


def test_lite_context_path_is_conv_and_relu_only():
    """Everything that computes coding means/scales must be integer-implementable: convs, ReLU, shuffles."""
    model = build_model("lite")
    allowed = (nn.Conv2d, nn.ReLU, nn.PixelShuffle, nn.Sequential, nn.ModuleList)
    for part in _context_path_modules(model):
        for module in part.modules():
            assert isinstance(module, allowed) or module is part, type(module)


@pytest.mark.parametrize("config, bound", [("lite", lambda r: r.clamp(-0.5, 0.5)),
                                           ("paper", lambda r: 0.5 * torch.tanh(r))])
def test_lrp_bounds_its_correction_as_the_configuration_says(config, bound):
    """lite clamps the latent residual prediction to ±1/2 (exact in integers); paper uses the authors'
    0.5·tanh."""
    torch.manual_seed(0)
    y_codec = build_model(config).latent_codec.y_codec
    support = [torch.randn(1, y_codec.channels + y_codec.slice_ch, 4, 4) * 20]
    raw = y_codec.lrp_nets[0](support[0])
    assert torch.equal(y_codec.lrp(0, support), bound(raw))
    assert raw.abs().max() > 0.5  # the bound matters for these inputs


def test_paper_context_path_is_the_authors():
    model = build_model("paper")
    kinds = {type(m).__name__ for part in _context_path_modules(model) for m in part.modules()}
    assert "GELU" in kinds and "RSSM" in kinds  # paper: GELU slice nets, RSSM hyper-synthesis


def test_rate_gains_interpolate_between_presets():
    model = build_model("tiny")
    lams = torch.tensor([1.0, 1.2, 1.5, 2.0, 2.5, 5.0])
    gain, inverse = model.gains(lams)
    g = gain.mean(dim=(1, 2, 3))
    assert torch.all(g[1:] < g[:-1])  # initialised: larger λ -> coarser quantisation
    assert torch.allclose(gain[0], model.gains.log_gain[0].exp()[:, None, None])


def test_weights_file_keeps_values_fp16_cannot_hold(tiny_weights):
    """Small tensors are stored in fp16, except where fp16 would change them: the likelihood lower bound
    (1e-9) became 0 in fp16, and one zero likelihood made the entropy estimate infinite."""
    from icisp_codec.weights import load_weights

    model, _, _ = load_weights(tiny_weights)
    bounds = [b for name, b in model.named_buffers() if name.endswith("lower_bound.bound")]
    assert bounds and all(float(b.min()) > 0 for b in bounds)


def test_build_tables_converges_stale_quantiles():
    """Tables must be built on the prior's actual median and tails, not on quantiles that lag in training."""
    torch.manual_seed(0)
    model = build_model("tiny")
    with torch.no_grad():
        quantiles = model.latent_codec.z_codec.entropy_bottleneck.quantiles
        quantiles.add_(torch.randn_like(quantiles) * 3)
    stale = model.aux_loss().item()
    model.build_tables()
    print(f"aux loss {stale:.1f} -> {model.aux_loss().item():.3f}")
    assert model.aux_loss().item() < 1.0 < stale
    assert model.latent_codec.z_codec.entropy_bottleneck.quantiles.grad is None


def test_haar_is_the_authors_fixed_kernels_and_inverts_exactly():
    """The channels-last Haar split equals the authors' form, a stride-2 grouped convolution with the fixed
    2x2 patterns (divided by 4) whose bands are ordered [LL of all C | band 1 of all C | ...], and its
    merge, their transposed convolution, restores the input."""
    import torch.nn.functional as F

    from icisp_codec.model.blocks import HAAR_PATTERNS, haar_analysis, haar_synthesis

    torch.manual_seed(0)
    channels = 5
    x = torch.randn(2, 6, 8, channels)
    kernels = HAAR_PATTERNS[:, None].repeat(channels, 1, 1, 1)
    bands = F.conv2d(x.permute(0, 3, 1, 2), kernels, stride=2, groups=channels) / 4  # (B, 4C, h, w), c-major
    bands = bands.view(2, channels, 4, 3, 4).transpose(1, 2).permute(0, 3, 4, 1, 2)  # (B, h, w, band, C)
    low, high = haar_analysis(x)
    assert torch.allclose(low, bands[..., 0, :], atol=1e-6)
    assert torch.allclose(high, bands[..., 1:, :].flatten(-2), atol=1e-6)
    merged = torch.cat([low[..., None, :], high.unflatten(-1, (3, channels))], dim=-2)  # (B, h, w, band, C)
    merged = merged.permute(0, 4, 3, 1, 2).flatten(1, 2)  # c-major, as their transposed conv takes it
    theirs = F.conv_transpose2d(merged, kernels, stride=2, groups=channels).permute(0, 2, 3, 1)
    assert torch.allclose(haar_synthesis(low, high), theirs, atol=1e-5)
    assert torch.allclose(haar_synthesis(low, high), x, atol=1e-5)


def test_lambda_modulation_starts_as_the_model_it_extends_and_then_makes_the_transforms_depend_on_lambda():
    from dataclasses import replace

    from icisp_codec.model.config import TINY

    torch.manual_seed(0)
    plain = build_model("tiny").eval()
    modulated = build_model(replace(TINY, lambda_modulation=True)).eval()
    missing = modulated.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == [f"gains.{side}_log_scales.{i}" for side in ("analysis", "synthesis") for i in range(3)]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain(x, 2.0)["x_hat"], modulated(x, 2.0)["x_hat"])  # scales at 1: the same model
        for table in [*modulated.gains.analysis_log_scales, *modulated.gains.synthesis_log_scales]:
            table.copy_(torch.linspace(-0.3, 0.3, table.numel()).view_as(table))
        unscaled = {lam: modulated.analyse(x, lam) / modulated.gains(torch.tensor([lam]))[0] for lam in (1.0, 5.0)}
        y = torch.randn(1, TINY.M, 4, 4)
        decoded = {lam: modulated.synthesize(y * modulated.gains(torch.tensor([lam]))[0], lam) for lam in (1.0, 5.0)}
    # beyond the latent's gains, the analysis and the synthesis now differ between λ = 1 and λ = 5
    assert not torch.allclose(unscaled[1.0], unscaled[5.0], atol=1e-4)
    assert not torch.allclose(decoded[1.0], decoded[5.0], atol=1e-4)
