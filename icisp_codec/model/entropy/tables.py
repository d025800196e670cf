"""Integer probability tables: every model the range coder sees is a row of integer frequencies.

Rows are computed once (when weights are exported) from the Gaussian of each scale-table entry and from the
factorized prior of each hyper-latent channel, stored with the weights as int32 buffers, and handed to the
coder as they are. A decoder therefore never recomputes a CDF in floating point, which is what makes
learned-codec files fail to decode on another machine (docs/portability.md).

A row covers symbols offset .. offset+length-2; its last bin (index length-1) is the escape bin for values
outside that range, which the coder then sends raw.
"""
import math

import numpy as np
import torch
import torch.nn as nn

PRECISION_BITS = 16
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
GAUSSIAN_TAIL_SIGMAS = 6.0


def scale_table():
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def scale_to_index(scales):
    """Nearest scale-table entry in the log domain (an integer tensor)."""
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    index = torch.round((torch.log(scales.clamp(min=SCALE_MIN)) - math.log(SCALE_MIN)) / step)
    return index.clamp(0, SCALE_LEVELS - 1).to(torch.int64)


def scale_index_thresholds(fraction_bits):
    """Integer thresholds T_k on a fixed-point scale (units 2^-fraction_bits) such that the integer path's
    row index = #{k : sigma >= T_k} matches scale_to_index (nearest table entry in log). Computed once at
    export and stored with the weights, so no decoder evaluates exp()."""
    step = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (SCALE_LEVELS - 1)
    bounds = [SCALE_MIN * math.exp((k + 0.5) * step) for k in range(SCALE_LEVELS - 1)]
    return torch.tensor([math.ceil(b * 2**fraction_bits) for b in bounds], dtype=torch.int64)


def quantize_pmf(pmf: np.ndarray, escape_mass: float) -> np.ndarray:
    """Float pmf (one row) + escape probability -> int32 frequencies summing to about 2^PRECISION_BITS,
    each at least 1 so every symbol stays codable."""
    total = 1 << PRECISION_BITS
    freqs = np.maximum(1, np.round(np.append(pmf, escape_mass) * total)).astype(np.int64)
    return freqs.astype(np.int32)


def pack_rows(rows, offsets):
    """List of int32 rows (different lengths) -> (table[n, max_len], lengths[n], offsets[n]) tensors."""
    width = max(len(r) for r in rows)
    table = np.zeros((len(rows), width), dtype=np.int32)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    return torch.from_numpy(table), torch.from_numpy(lengths), torch.tensor(offsets, dtype=torch.int32)


def gaussian_rows():
    """One row per scale-table entry: a zero-mean Gaussian of that scale integrated over unit bins."""
    rows, offsets = [], []
    for s in scale_table().double().tolist():
        r = max(1, math.ceil(GAUSSIAN_TAIL_SIGMAS * s))
        edges = (np.arange(-r, r + 2, dtype=np.float64) - 0.5) / s
        cdf = np.array([0.5 * math.erfc(-e / math.sqrt(2.0)) for e in edges])
        pmf = np.diff(cdf)
        rows.append(quantize_pmf(pmf, escape_mass=max(0.0, 1.0 - pmf.sum())))
        offsets.append(-r)
    return pack_rows(rows, offsets)


class TableBuffers(nn.Module):
    """A latent codec's integer frequency rows (freqs, lengths, offsets) as int32 buffers, whose shapes
    come from the data: loading takes the stored shapes instead of the (empty) registered ones."""

    resizable = ("freqs", "lengths", "offsets")

    def __init__(self):
        super().__init__()
        self.register_buffer("freqs", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("offsets", torch.zeros(0, dtype=torch.int32))

    def set_tables(self, freqs, lengths, offsets):
        self.freqs, self.lengths, self.offsets = (t.to(torch.int32) for t in (freqs, lengths, offsets))

    def tables(self):
        """(freqs[n, width], lengths[n], offsets[n]) as numpy int32 arrays."""
        if self.freqs.numel() == 0:
            raise RuntimeError("probability tables are not built: call model.build_tables() after training")
        return tuple(t.cpu().numpy() for t in (self.freqs, self.lengths, self.offsets))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self.resizable:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
