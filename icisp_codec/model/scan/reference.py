"""Plain sequential selective scan: the definition the fast implementations are tested against."""
import torch
import torch.nn.functional as F


def selective_scan_reference(u, delta, A, B, C, D, delta_bias):
    """Run the S6 recurrence step by step in float64.

    u, delta: (batch, K*D, L); A: (K*D, N); B, C: (batch, K, N, L) shared by the D channels of each of the
    K direction groups; D, delta_bias: (K*D,). Returns y: (batch, K*D, L) in u's dtype.
    """
    batch, channels, length = u.shape
    groups = B.shape[1]
    dt = F.softplus(delta.double() + delta_bias.double()[:, None])
    Bx = B.double().repeat_interleave(channels // groups, dim=1)  # (batch, K*D, N, L)
    Cx = C.double().repeat_interleave(channels // groups, dim=1)
    A = A.double()
    h = u.new_zeros(batch, channels, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(length):
        h = torch.exp(dt[:, :, t, None] * A) * h + (dt[:, :, t] * u[:, :, t].double())[..., None] * Bx[..., t]
        ys.append((h * Cx[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1) + D.double()[:, None] * u.double()
    return y.to(u.dtype)
