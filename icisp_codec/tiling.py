"""Tiles, so that big photos code within a fixed memory budget.

Two kinds, both fixed by the format and codec version (so every decoder makes the same pixels):

- **Coding tiles** cut the latent grid into squares of `TILE_LATENTS` latents (1024 px). Each tile's symbols go
  into its own pair of substreams (hyper-latent, latent) whose lengths are in the file, so tiles can later be
  range-decoded in parallel or on their own. The entropy model itself runs on the whole latent grid (1/256 of
  the pixels, small even for 24 MP), so the tiling changes no symbol and no probability: the coded latent is
  the same as untiled. (Coding each tile with its own hyper-latent, as a first version did, cost 0.3 dB in a
  band around tile borders on flower.png: the hyperprior and latent-residual prediction lost their context.)
- **Transform windows**: the analysis and synthesis transforms run over overlapping windows (a core of
  `WINDOW_LATENTS` latents plus `MARGIN_LATENTS` of context on every side, clipped at the image border), and only
  each core's output is kept. Peak memory then grows with the window, not the image. An image that fits in
  one window is transformed whole, as without windows; benchmarks/big_photo.py measures the seams.

All sizes are multiples of 4 latents (64 px), which keeps every window valid for the state-space blocks'
halvings down to the hyper-analysis.

- **Synthesis bands**: inside a window, the synthesis's purely local tail (the layers after its last
  state-space block: convolutions, GDN, pixel shuffles — most of its work, at the highest resolutions)
  runs on `SYNTHESIS_BANDS` horizontal bands with enough rows of context to be exact, one band per core.
  Always the same bands, however many threads run them, so the decoded image stays independent of the
  thread count while using both cores.
"""
from concurrent.futures import ThreadPoolExecutor

import torch

from .geometry import LATENT_STRIDE, spans

TILE_LATENTS = 64
WINDOW_LATENTS = 64
MARGIN_LATENTS = 4
SYNTHESIS_BANDS = 2


def windowed(transform, x, core, margin, scale):
    """transform(x) computed window by window: cores of `core` input pixels (rows and columns), each seen with
    `margin` pixels of context on every side; `scale` = output size / input size (1/16 for the analysis,
    16 for the synthesis). Equal to transform(x) when x fits in one core."""
    height, width = x.shape[-2:]
    if height <= core and width <= core:
        return transform(x)
    out = None
    for r0, r1 in spans(height, core):
        for c0, c1 in spans(width, core):
            top, left = max(r0 - margin, 0), max(c0 - margin, 0)
            window = transform(x[..., top : min(r1 + margin, height), left : min(c1 + margin, width)])
            if out is None:
                out = window.new_empty(*window.shape[:2], int(height * scale), int(width * scale))
            rows = slice(int((r0 - top) * scale), int((r1 - top) * scale))
            cols = slice(int((c0 - left) * scale), int((c1 - left) * scale))
            out[..., int(r0 * scale) : int(r1 * scale), int(c0 * scale) : int(c1 * scale)] = window[..., rows, cols]
            del window  # free before the next window runs
    return out


def analysis_windows(transform, x, window=WINDOW_LATENTS, margin=MARGIN_LATENTS):
    return windowed(transform, x, window * LATENT_STRIDE, margin * LATENT_STRIDE, 1 / LATENT_STRIDE)


def synthesis_windows(transform, y, window=WINDOW_LATENTS, margin=MARGIN_LATENTS):
    return windowed(transform, y, window, margin, LATENT_STRIDE)


def banded(transform, x, bands, halo, workers):
    """transform(x) for a local transform (receptive radius <= `halo` input rows) whose output is `scale`
    times larger, computed on `bands` horizontal bands of x, each with `halo` rows of context, on up to
    `workers` threads, each running its band's operations single-threaded. The bands are fixed, so the result
    does not depend on `workers`; it equals transform(x) up to float rounding."""
    height = x.shape[-2]
    size = -(-height // bands)
    pieces = spans(height, size)

    def run(piece):
        r0, r1 = piece
        top = max(r0 - halo, 0)
        out = transform(x[..., top : min(r1 + halo, height), :])
        scale = out.shape[-2] // (min(r1 + halo, height) - top)
        return out[..., (r0 - top) * scale : (r1 - top) * scale, :]

    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # each band single-threaded: its arithmetic is the same on any machine load
    try:
        if workers > 1 and len(pieces) > 1:
            # OpenMP's thread count is per thread: each worker pins its own. torch releases the GIL in its ops.
            with ThreadPoolExecutor(min(workers, len(pieces)), initializer=torch.set_num_threads,
                                    initargs=(1,)) as pool:
                outs = list(pool.map(run, pieces))
        else:
            outs = [run(piece) for piece in pieces]
    finally:
        torch.set_num_threads(previous)
    return torch.cat(outs, dim=-2)
