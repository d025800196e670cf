"""The selective scan implementations against the plain sequential reference, forward and gradients."""
import pytest
import torch

from icisp_codec.model.scan import compiled, selective_scan_chunked, selective_scan_reference

# Largest error allowed relative to the reference's largest magnitude (fp32 kernels vs a float64 reference).
MAX_REL_ERROR = 1e-5
# The chunked scan sums T x T products per chunk in fp32: with large steps its gradients reach 1.1e-5 on one
# thread (8e-6 on two), so it gets a little more room.
CHUNKED_MAX_REL_ERROR = 3e-5


def _inputs(batch=2, groups=4, channels=6, n_state=16, length=150, seed=0, delta_scale=1.0):
    g = torch.Generator().manual_seed(seed)
    kd = groups * channels
    tensors = [
        torch.randn(batch, kd, length, generator=g),
        torch.randn(batch, kd, length, generator=g) * delta_scale,
        -torch.rand(kd, n_state, generator=g) * 4 - 0.1,
        torch.randn(batch, groups, n_state, length, generator=g),
        torch.randn(batch, groups, n_state, length, generator=g),
        torch.randn(kd, generator=g),
        torch.randn(kd, generator=g),
    ]
    return [t.requires_grad_() for t in tensors]


def _compare(fn, args):
    ref = selective_scan_reference(*args)
    grad_out = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, args, grad_out)
    y = fn(*args)
    grads = torch.autograd.grad(y, args, grad_out)
    errors = [((y - ref).abs().max() / ref.abs().max()).item()]
    errors += [((a - b).abs().max() / b.abs().max()).item() for a, b in zip(grads, ref_grads)]
    return max(errors)


@pytest.mark.parametrize("length", [1, 63, 64, 150])
@pytest.mark.parametrize("delta_scale", [1.0, 10.0])  # 10: large steps, where closed forms overflow
def test_compiled_matches_reference(length, delta_scale):
    if not compiled.available():
        pytest.skip("no C++ compiler: the compiled scan is unavailable")
    error = _compare(compiled.selective_scan_compiled, _inputs(length=length, delta_scale=delta_scale))
    print(f"compiled scan, L={length}, delta x{delta_scale}: max relative error {error:.2e}")
    assert error < MAX_REL_ERROR


@pytest.mark.parametrize("delta_scale", [1.0, 10.0])
def test_chunked_matches_reference(delta_scale):
    error = _compare(selective_scan_chunked, _inputs(length=100, delta_scale=delta_scale))
    print(f"chunked scan: max relative error {error:.2e}")
    assert error < CHUNKED_MAX_REL_ERROR


def test_reference_is_the_recurrence():
    """One channel, one state, by hand: h_t = exp(dt*a) h_{t-1} + dt*b*u_t, y = c*h + d*u."""
    u = torch.tensor([[[1.0, 2.0]]])
    delta = torch.zeros(1, 1, 2)
    bias = torch.tensor([0.0])
    dt = torch.nn.functional.softplus(torch.tensor(0.0)).item()
    A = torch.tensor([[-1.0]])
    B = torch.ones(1, 1, 1, 2) * 2
    C = torch.ones(1, 1, 1, 2) * 3
    D = torch.tensor([0.5])
    h1 = dt * 2 * 1.0
    h2 = torch.exp(torch.tensor(-dt)).item() * h1 + dt * 2 * 2.0
    expected = torch.tensor([[[3 * h1 + 0.5, 3 * h2 + 1.0]]])
    assert torch.allclose(selective_scan_reference(u, delta, A, B, C, D, bias), expected, atol=1e-6)


@pytest.mark.parametrize("height,width,channels,d_state", [(1, 7, 24, 8), (5, 3, 20, 16), (16, 24, 20, 16)])
def test_fused_inference_ss2d_matches_the_four_separate_scans(height, width, channels, d_state):
    """SS2D's inference kernel (row and column orders read forwards and backwards, step sizes and softplus
    inside, channels in SIMD groups of 8, or 16 with AVX-512: 20 leaves a partial group either way, 24 with
    16; d_state 16 is the kernel's compiled-in size, 8 its general path) computes what cross-scan, four
    scans and cross-merge compute, including steps beyond softplus's linear threshold and decays that
    underflow."""
    from icisp_codec.model.blocks import SS2D
    from icisp_codec.model.scan import fused_ss2d_available

    torch.manual_seed(0)
    module = SS2D(channels, d_state=d_state, dt_rank=3)
    with torch.no_grad():
        module.dt_proj_bias[0, :4] = torch.tensor([25.0, -30.0, 3.0, 60.0])
    x = torch.randn(2, channels, height, width)
    with torch.no_grad():
        if not fused_ss2d_available(x):
            pytest.skip("no compiled kernel: the fused scan is unavailable")
        fused = module(x)
    separate = module(x).detach()  # with gradients: the training path
    error = ((fused - separate).abs().max() / separate.abs().max()).item()
    print(f"{height}x{width}: fused vs separate scans, max relative difference {error:.2e}")
    assert error < MAX_REL_ERROR
