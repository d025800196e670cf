"""Selective scan (the S6 recurrence of Mamba) with one signature and several implementations.

    y = selective_scan(u, delta, A, B, C, D, delta_bias)

u, delta: (batch, K*D, L); A: (K*D, N); B, C: (batch, K, N, L) shared by the D channels of each of the K
groups (the 4 scan directions of SS2D); D, delta_bias: (K*D,). softplus is applied to delta + delta_bias.

Dispatch: CUDA tensors use mamba-ssm's kernel when it is installed; CPU tensors use the compiled C++ kernel,
or the pure-PyTorch chunked scan when no compiler is available. ICISP_SCAN=compiled|chunked|reference forces
one implementation (tests and benchmarks).
"""
import os

import torch

from . import compiled
from .chunked import selective_scan_chunked
from .reference import selective_scan_reference

__all__ = ["selective_scan", "selective_scan_chunked", "selective_scan_reference", "backend_name", "ss2d_fused",
           "fused_ss2d_available"]


def _mamba_cuda_scan():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # mamba-ssm is an optional CUDA-only extra
        return None

    def scan(u, delta, A, B, C, D, delta_bias):
        return selective_scan_fn(u, delta, A, B, C, D, z=None, delta_bias=delta_bias, delta_softplus=True)

    return scan


def backend_name(device_type: str = "cpu") -> str:
    forced = os.environ.get("ICISP_SCAN")
    if forced:
        return forced
    if device_type == "cuda" and _mamba_cuda_scan() is not None:
        return "mamba_ssm"
    if device_type == "cpu" and compiled.available():
        return "compiled"
    return "chunked"


def selective_scan(u, delta, A, B, C, D, delta_bias):
    name = backend_name(u.device.type)
    if name == "mamba_ssm":
        return _mamba_cuda_scan()(u, delta, A, B, C, D, delta_bias)
    if name == "compiled":
        return compiled.selective_scan_compiled(u, delta, A, B, C, D, delta_bias)
    if name == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, delta_bias)
    return selective_scan_chunked(u, delta, A, B, C, D, delta_bias)


def fused_ss2d_available(x) -> bool:
    """Whether SS2D's four scans can run as one fused pass: inference (no gradient) on the CPU with the
    compiled kernel."""
    return not torch.is_grad_enabled() and x.device.type == "cpu" and backend_name("cpu") == "compiled"


def ss2d_fused(x_rows, x_cols, proj_rows, proj_cols, dt_weight, A, D, delta_bias):
    """Channels-last, per order (rows, columns): x (B, L, D), the input in that order; proj (B, 2, L, P), the
    projections of its forward and its backward direction, each the R low-rank step inputs that dt_weight
    (4, D, R) expands, then B and C -> (y_rows, y_cols), each (B, L, D): the order's two directions summed."""
    return compiled.ss2d_compiled(x_rows, x_cols, proj_rows, proj_cols, dt_weight, A, D, delta_bias)
