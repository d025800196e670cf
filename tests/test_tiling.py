"""Coding tiles and transform windows (tiling.py): exact stitching, closeness to whole-image transforms,
and a tiled file that round-trips."""
import numpy as np
import torch
import torch.nn.functional as F

from icisp_codec.bitstream import parse
from icisp_codec.geometry import spans, tile_grid
from icisp_codec.image_io import pad, to_tensor
from icisp_codec.tiling import analysis_windows, synthesis_windows, windowed

from .conftest import dev_image


def test_grid_covers_every_latent_once():
    seen = np.zeros((13, 22), dtype=int)
    for rows, cols in tile_grid(13, 22, 4):
        seen[rows, cols] += 1
    assert (seen == 1).all()
    assert spans(8, 4) == [(0, 4), (4, 8)]


def test_windows_stitch_exactly():
    """A transform without spatial context gives identical results in windows: the stitching is exact."""
    x = torch.rand(1, 3, 320, 448)
    down = lambda t: F.avg_pool2d(t, 16)  # noqa: E731
    assert torch.equal(windowed(down, x, 64, 32, 1 / 16), down(x))
    up = lambda t: F.interpolate(t, scale_factor=16, mode="nearest")  # noqa: E731
    y = torch.rand(1, 5, 20, 28)
    assert torch.equal(windowed(up, y, 4, 4, 16), up(y))


def test_windowed_transforms_stay_close_to_whole_ones(tiny_codec):
    model = tiny_codec.model
    x = pad(to_tensor(dev_image("chelsea.png")[:200, :300]), 64, "replicate")
    with torch.no_grad():
        y_whole = model.analyse(x, 2.5)
        y_windows = model.analyse(x, 2.5, lambda f, t: analysis_windows(f, t, window=4))
        x_whole = model.synthesize(y_whole.round(), 2.5)
        x_windows = model.synthesize(y_whole.round(), 2.5, lambda f, t: synthesis_windows(f, t, window=4))
    scale = y_whole.abs().mean()
    assert (y_windows - y_whole).abs().mean() < 0.05 * scale
    assert (x_windows - x_whole).abs().mean() < 1 / 255


def test_coding_tiles_only_split_the_substreams(tiny_weights):
    """Tiles of 4 latents: 20 substream pairs, an exact round trip, and the same latent and image as one tile."""
    from icisp_codec.codec import Codec

    rgb = dev_image("chelsea.png")[:200, :300]
    tiled = Codec.load(tiny_weights, device="cpu", tile_latents=4)
    whole = Codec.load(tiny_weights, device="cpu", tile_latents=64)
    data, enc = tiled.encode(rgb, 2.5, reconstruct=True)
    decoded, dec = tiled.decode(data)  # checks the CRC of every symbol against the encoder's
    assert len(dec.extra["container"].tiles) == 4 * 5  # latent grid 16x20 (image padded to 256x320)
    assert torch.equal(tiled.synthesize(enc.extra["y_bar"], enc.lam), dec.extra["x_hat"])
    whole_data, whole_enc = whole.encode(rgb, 2.5, reconstruct=True)
    assert whole_data != data and len(parse(whole_data).tiles) == 1
    assert torch.equal(enc.extra["y_bar"], whole_enc.extra["y_bar"])
    assert np.array_equal(decoded, whole.decode(whole_data)[0])


def test_synthesis_bands_are_exact_and_independent_of_the_workers():
    """The lite synthesis's local tail on halo'd bands equals it on the whole latent (to float rounding, so
    the halo covers its receptive field), and gives the same bits on 1 or 2 workers."""
    from icisp_codec.model import build_model
    from icisp_codec.model.transforms import SYNTHESIS_TAIL_HALO, local_tail_start
    from icisp_codec.tiling import banded

    torch.manual_seed(0)
    g_s = build_model("lite").g_s.eval()
    start = local_tail_start(g_s)
    assert start == 4  # after the RSSM at 1/8: two upsampling blocks and the output conv
    tail = g_s[start:]
    x = torch.randn(1, 64, 13, 9)
    with torch.no_grad():
        whole = tail(x)
        one = banded(tail, x, 2, SYNTHESIS_TAIL_HALO, workers=1)
        two = banded(tail, x, 2, SYNTHESIS_TAIL_HALO, workers=2)
        short = banded(tail, x, 2, 1, workers=1)  # too little context: the band seam shows
    assert one.shape == whole.shape
    assert torch.equal(one, two)
    assert (one - whole).abs().max() < 1e-5
    assert (short - whole).abs().max() > 1e-3
