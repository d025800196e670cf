"""The C++/OpenMP selective scan (selective_scan.cpp), compiled on first use and cached by torch.

Building needs a C++ compiler; `available()` says whether it could be built, so callers can fall back.
"""
import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F

_SOURCE = Path(__file__).with_name("selective_scan.cpp")


@functools.lru_cache(maxsize=None)
def _extension():
    import logging

    # torch warns "No CUDA runtime is found" when this module is imported on a CPU-only machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils.cpp_extension import load

    flags = ["-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math", "-fopenmp"]
    return load(
        name="icisp_selective_scan",
        sources=[str(_SOURCE)],
        extra_cflags=flags,
        extra_ldflags=["-fopenmp"],
        verbose=bool(os.environ.get("ICISP_VERBOSE_BUILD")),
    )


@functools.lru_cache(maxsize=None)
def available() -> bool:
    try:
        _extension()
        return True
    except Exception:  # no compiler, no ninja, or a failed build: the caller falls back
        return False


class _CompiledScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dt, A, B, C, D):
        # The kernel wants B and C as (batch, K, L, N) so the N state values of a step are contiguous.
        args = [t.float().contiguous() for t in (u, dt, A)]
        args += [B.float().transpose(-1, -2).contiguous(), C.float().transpose(-1, -2).contiguous()]
        args.append(D.float().contiguous())
        y, checkpoints = _extension().forward(*args)
        ctx.save_for_backward(*args, checkpoints)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, dt, A, B, C, D, checkpoints = ctx.saved_tensors
        du, ddt, dA, dB, dC, dD = _extension().backward(grad_y.float().contiguous(), u, dt, A, B, C, D, checkpoints)
        return du, ddt, dA, dB.transpose(-1, -2), dC.transpose(-1, -2), dD


def selective_scan_compiled(u, delta, A, B, C, D, delta_bias):
    # softplus in torch: vectorised there, and its gradient comes from autograd.
    dt = F.softplus(delta.float() + delta_bias.float()[:, None])
    return _CompiledScan.apply(u, dt, A, B, C, D)
