"""Files decode identically everywhere: the exact-integer context path (docs/portability.md)."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from . import int64_reference
from .conftest import dev_image


class _Recorder:
    """A symbol writer that keeps the groups instead of coding them."""

    def __init__(self):
        self.groups = []

    def write(self, table_set, symbols, rows):
        self.groups.append((table_set, torch.from_numpy(symbols), rows))


def _latents(codec, name, lam=2.5):
    """Real hyper-latent symbols and the first latent slice's symbols of a development image."""
    from icisp_codec.geometry import PAD_MULTIPLE
    from icisp_codec.image_io import pad, to_tensor

    x = pad(to_tensor(dev_image(name)), PAD_MULTIPLE, "replicate")
    recorder = _Recorder()
    with torch.no_grad():
        codec.model.latent_codec.compress(codec.model.analyse(x, lam), recorder, codec.engine("integer"))
    return recorder.groups[0][1], recorder.groups[1][1]


def _first_slice_params(codec, z_symbols):
    engine = codec.engine("integer")
    medians = codec.model.latent_codec.z_codec.medians
    with torch.no_grad():
        means, scales = engine.hyper(z_symbols, medians)
        mu, rows = engine.slice_params(0, [means], [scales])
    return means, scales, mu, rows


@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png"])
def test_integer_path_matches_an_independent_int64_implementation(shipped_codec, name):
    z_symbols, _ = _latents(shipped_codec, name)
    means, scales, mu, rows = _first_slice_params(shipped_codec, z_symbols)
    codec = shipped_codec.model.latent_codec
    medians = codec.z_codec.medians.detach().numpy().reshape(-1, 1, 1)
    z_int = z_symbols[0].numpy().astype(np.int64) * 256 + np.round(medians.astype(np.float64) * 256).astype(np.int64)
    hyper = int64_reference.run(codec.h_s.trunk, z_int)
    ref_means, ref_scales = np.split(hyper, 2, axis=0)
    assert np.array_equal(ref_means, means[0].numpy().astype(np.int64))
    assert np.array_equal(ref_scales, scales[0].numpy().astype(np.int64))
    ref_mu = int64_reference.run(codec.y_codec.mean_nets[0], ref_means)
    ref_sigma = int64_reference.run(codec.y_codec.scale_nets[0], ref_scales)
    ref_rows = (ref_sigma[..., None] >= codec.y_codec.scale_thresholds.numpy()).sum(-1)
    assert np.array_equal(ref_mu, mu[0].numpy().astype(np.int64))
    assert np.array_equal(ref_rows, rows[0].numpy())
    print(f"{name}: {ref_mu.size} means and scale rows identical (numpy int64 vs torch float64)")


def test_integer_path_is_independent_of_thread_count(shipped_codec):
    z_symbols, _ = _latents(shipped_codec, "astronaut.png")
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _first_slice_params(shipped_codec, z_symbols)
        torch.set_num_threads(2)
        two = _first_slice_params(shipped_codec, z_symbols)
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(one, two):
        assert torch.equal(a, b)


def test_encoded_with_two_threads_decodes_identically_with_one(tmp_path):
    from icisp_codec.image_io import save_rgb

    save_rgb(dev_image("motorcycle_left.png"), tmp_path / "in.png")

    def icisp(*args, threads):
        code = f"import sys; from icisp_codec.cli.main import main; sys.argv = ['icisp', *{list(args)!r}]; main()"
        env = {"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)

    r = icisp("--threads", "2", "encode", str(tmp_path / "in.png"), str(tmp_path / "a.icisp"), threads=2)
    assert r.returncode == 0, r.stderr
    for threads, name in ((1, "one.png"), (2, "two.png")):
        r = icisp("--threads", str(threads), "decode", str(tmp_path / "a.icisp"), str(tmp_path / name), threads=threads)
        assert r.returncode == 0, r.stderr
    from icisp_codec.image_io import load_rgb

    assert np.array_equal(load_rgb(tmp_path / "one.png"), load_rgb(tmp_path / "two.png"))
    info = subprocess.run([sys.executable, "-m", "icisp_codec.cli.main", "info", str(tmp_path / "a.icisp")],
                          capture_output=True, text=True)
    assert "integer" in info.stdout
    # a file whose payload was altered is refused, with a non-zero exit code and no output image
    data = bytearray((tmp_path / "a.icisp").read_bytes())
    data[len(data) // 2] ^= 0x10
    (tmp_path / "bad.icisp").write_bytes(bytes(data))
    r = icisp("decode", str(tmp_path / "bad.icisp"), str(tmp_path / "bad.png"), threads=1)
    assert r.returncode == 6 and "corrupt" in r.stderr
    assert not (tmp_path / "bad.png").exists()
