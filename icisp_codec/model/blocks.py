"""The ICISP building blocks: SS2D (2-D selective scan), the enhanced VSS block, FDMB and the RSSM.

Tensors enter and leave every block as NCHW; inside, the per-pixel layers work channels-last (B, H, W, C)
as in VMamba, where LayerNorm and Linear act on the channel vector of each pixel.
Shapes and initialisation follow the authors' released model (docs/model.md).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .scan import fused_ss2d_available, selective_scan, ss2d_fused


def cross_scan(x):
    """(B, D, H, W) -> (B, 4, D, H*W): row-major, column-major, and both reversed."""
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    forward = torch.stack([rows, cols], dim=1)
    return torch.cat([forward, forward.flip(-1)], dim=1)


def cross_merge(ys, height, width):
    """Inverse of cross_scan, summing the 4 directions: (B, 4, D, H*W) -> (B, D, H, W)."""
    batch, _, channels, _ = ys.shape
    forward = ys[:, :2] + ys[:, 2:].flip(-1)
    rows = forward[:, 0].view(batch, channels, height, width)
    cols = forward[:, 1].view(batch, channels, width, height).transpose(2, 3)
    return rows + cols


class SS2D(nn.Module):
    """VMamba's 2-D selective scan over 4 directions (no input/output projections).

    Per direction k: x_proj gives a low-rank Δ, B and C from the d_inner channels; dt_proj expands Δ to
    d_inner channels; the scan runs with A = -exp(A_log) (S4D-real init) and skip D = 1.
    """

    directions = 4

    def __init__(self, d_inner, d_state=16, dt_rank=None, dt_min=1e-3, dt_max=1e-1, dt_floor=1e-4):
        super().__init__()
        k = self.directions
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_inner / 16)
        self.x_proj_weight = nn.Parameter(torch.empty(k, self.dt_rank + 2 * d_state, d_inner))
        nn.init.uniform_(self.x_proj_weight, -d_inner**-0.5, d_inner**-0.5)  # as nn.Linear's default
        self.dt_proj_weight = nn.Parameter(torch.empty(k, d_inner, self.dt_rank))
        nn.init.uniform_(self.dt_proj_weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
        # softplus(bias) log-uniform in [dt_min, dt_max]: the bias is softplus's inverse of that dt.
        dt = torch.exp(torch.rand(k, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        self.dt_proj_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(k * d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(k * d_inner))

    def forward(self, x):
        """x: (B, D, H, W) -> (B, D, H, W), the sum of the 4 directional scans."""
        if fused_ss2d_available(x):
            return self._forward_fused(x)
        batch, channels, height, width = x.shape
        length = height * width
        xs = cross_scan(x)  # (B, K, D, L)
        proj = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)
        dts, Bs, Cs = torch.split(proj, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_proj_weight)
        ys = selective_scan(
            xs.reshape(batch, -1, length).float(),
            dts.reshape(batch, -1, length).float(),
            -torch.exp(self.A_log.float()),
            Bs.float(),
            Cs.float(),
            self.D.float(),
            self.dt_proj_bias.flatten().float(),
        )
        return cross_merge(ys.view(batch, self.directions, channels, length), height, width)

    def _forward_fused(self, x):
        """The same scans for inference in one kernel call, channels-last: the input in row order is x's
        own memory when x is channels-last, column order one transposed copy; directions 2 and 3 read their
        order backwards; step sizes are expanded from their low rank inside the kernel. Returns a
        channels-last tensor."""
        batch, channels, height, width = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(batch, height * width, channels).float()
        cols = x.permute(0, 3, 2, 1).reshape(batch, height * width, channels).float()
        weights = self.x_proj_weight.float().transpose(1, 2)  # (4, D, P); direction k scans order k % 2
        proj_rows = rows[:, None] @ weights[0::2]  # (B, 2, L, P): directions 0 and 2
        proj_cols = cols[:, None] @ weights[1::2]  # directions 1 and 3
        y_rows, y_cols = ss2d_fused(rows, cols, proj_rows, proj_cols, self.dt_proj_weight.float(),
                                    -torch.exp(self.A_log.float()), self.D.float(), self.dt_proj_bias.flatten().float())
        columns_back = y_cols.view(batch, width, height, channels).transpose(1, 2)
        # in place into the kernel's fresh output: a new tensor of this size costs 4x the add (page faults)
        return y_rows.view(batch, height, width, channels).add_(columns_back).permute(0, 3, 1, 2)


class VSSLayer(nn.Module):
    """Gated SS2D on channels-last input (VMamba's SS2D module): in_proj -> dwconv+SiLU -> scan
    (+ optional local conv branch) -> LayerNorm -> * SiLU(gate) -> out_proj.

    With local_branch=True this is ICISP's enhanced VSS block (EVSSB): two full 3x3 convolutions on the
    post-SiLU features add local detail to the global scan before the output norm.
    """

    def __init__(self, d_model, expand=1.0, d_state=16, local_branch=False):
        super().__init__()
        d_inner = int(expand * d_model)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.dwconv = nn.Conv2d(d_inner, d_inner, 3, padding=1, groups=d_inner)
        self.ss2d = SS2D(d_inner, d_state=d_state, dt_rank=math.ceil(d_model / 16))
        self.local = (
            nn.Sequential(
                nn.Conv2d(d_inner, d_inner, 3, padding=1), nn.SiLU(), nn.Conv2d(d_inner, d_inner, 3, padding=1)
            )
            if local_branch
            else None
        )
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x):
        """x: (B, H, W, C) -> (B, H, W, C)."""
        # in_proj's two halves as two products: each half contiguous, so the depthwise conv, the scan and
        # the local branch all run channels-last without a copy
        branch_weight, gate_weight = self.in_proj.weight.chunk(2, dim=0)
        # without autograd the activations can overwrite their inputs: fewer passes over the feature map
        # and no fresh allocations
        inplace = not torch.is_grad_enabled()
        gate = F.silu(F.linear(x, gate_weight), inplace=inplace)
        branch = F.silu(self.dwconv(F.linear(x, branch_weight).permute(0, 3, 1, 2)), inplace=inplace)
        mixed = self.ss2d(branch)
        if self.local is not None:
            mixed = mixed.add_(self.local(branch)) if inplace else mixed + self.local(branch)
        y = self.out_norm(mixed.permute(0, 2, 3, 1).to(x.dtype))
        return self.out_proj(y.mul_(gate) if inplace else y * gate)


# The four 2x2 Haar patterns [LL, column, row, diagonal]: the analysis takes each band as the pattern's
# weighted sum of a 2x2 block over 4, the synthesis puts the bands back with the same patterns (the authors'
# fixed (4C, 1, 2, 2) kernels are these, repeated per channel). haar_analysis and haar_synthesis write the
# sums out on the block's four pixels, which channels-last needs no convolution or copy for;
# tests/test_model.py checks them against the convolutions with these patterns.
HAAR_PATTERNS = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[1.0, -1.0], [1.0, -1.0]],
                              [[1.0, 1.0], [-1.0, -1.0]], [[1.0, -1.0], [-1.0, 1.0]]])


def haar_analysis(x):
    """(B, H, W, C), H and W even -> (low (B, H/2, W/2, C), high (B, H/2, W/2, 3C)), high's channels
    [column band of all C | row band | diagonal band]."""
    batch, height, width, channels = x.shape
    blocks = x.view(batch, height // 2, 2, width // 2, 2, channels)
    top_left, top_right = blocks[:, :, 0, :, 0], blocks[:, :, 0, :, 1]
    bottom_left, bottom_right = blocks[:, :, 1, :, 0], blocks[:, :, 1, :, 1]
    top, bottom = top_left + top_right, bottom_left + bottom_right
    top_step, bottom_step = top_left - top_right, bottom_left - bottom_right
    bands = torch.stack([top + bottom, top_step + bottom_step, top - bottom, top_step - bottom_step], dim=3) / 4
    return bands[..., 0, :], bands[..., 1:, :].flatten(-2)


def haar_synthesis(low, high):
    """Inverse of haar_analysis: (B, h, w, C), (B, h, w, 3C) -> (B, 2h, 2w, C)."""
    batch, height, width, channels = low.shape
    column, row, diagonal = high.chunk(3, dim=-1)
    top, bottom = low + row, low - row
    step_top, step_bottom = column + diagonal, column - diagonal
    top_pair = torch.stack([top + step_top, top - step_top], dim=3)  # the block's top-left, top-right
    bottom_pair = torch.stack([bottom + step_bottom, bottom - step_bottom], dim=3)
    return torch.stack([top_pair, bottom_pair], dim=2).view(batch, 2 * height, 2 * width, channels)


class FDMB(nn.Module):
    """Frequency decomposition modulation block: MLP, Haar split, a scan on the low band and another on the
    three high bands, Haar merge. Needs even H and W."""

    def __init__(self, channels, ffn_expand=2, d_state=16):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, ffn_expand * channels), nn.GELU(), nn.Linear(ffn_expand * channels, channels)
        )
        self.low = VSSLayer(channels, expand=1.0, d_state=d_state)
        self.high = VSSLayer(3 * channels, expand=1.0, d_state=d_state)

    def forward(self, x):
        """x: (B, H, W, C) -> (B, H, W, C)."""
        low, high = haar_analysis(self.mlp(x))
        return haar_synthesis(self.low(low), self.high(high))


class RSSM(nn.Module):
    """Residual state-space module: x + EVSSB(LN(x)), then x + FDMB(LN(x)). NCHW in and out."""

    def __init__(self, channels, d_state=16, expand=1.5):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.evssb = VSSLayer(channels, expand=expand, d_state=d_state, local_branch=True)
        self.norm2 = nn.LayerNorm(channels)
        self.fdmb = FDMB(channels, d_state=d_state)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = x + self.evssb(self.norm1(x))
        x = x + self.fdmb(self.norm2(x))
        return x.permute(0, 3, 1, 2)
