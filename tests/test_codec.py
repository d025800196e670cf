"""Encode -> bytes -> decode on a tiny random model: exactness, sizes, bpp accounting, the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from icisp_codec.cli.main import cli
from icisp_codec.errors import CorruptFile, DecoderDesync, ModelError

from .conftest import dev_image


def test_symbols_and_reconstruction_are_exact(tiny_codec):
    rgb = dev_image("chelsea.png")[:100, :150]
    data, enc = tiny_codec.encode(rgb, 2.5, reconstruct=True)
    decoded, dec = tiny_codec.decode(data)  # checks the symbol CRC: every decoded symbol equals the encoder's
    # The decoder's image is exactly what the model synthesises from the encoder's quantised latents.
    expected = tiny_codec.synthesize(enc.extra["y_bar"], enc.lam)
    assert torch.equal(expected, dec.extra["x_hat"])
    # Without the reconstruction the encoder skips the last slice's LRP: the same bytes.
    plain, report = tiny_codec.encode(rgb, 2.5)
    assert plain == data and "y_bar" not in report.extra


@pytest.mark.parametrize("size", [(1, 1), (9, 17), (77, 131), (64, 64), (65, 129)])
@pytest.mark.parametrize("pad_mode", ["zero", "replicate"])
def test_any_size_round_trips(tiny_codec, rng, size, pad_mode):
    rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    data, report = tiny_codec.encode(rgb, 1.5, pad_mode=pad_mode)
    decoded, _ = tiny_codec.decode(data)
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert report.file_bpp == len(data) * 8 / (size[0] * size[1])


def test_altered_payload_is_refused(tiny_codec):
    data, _ = tiny_codec.encode(dev_image("coffee.png")[:64, :64], 2.5)
    with pytest.raises(CorruptFile):
        tiny_codec.decode(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])


def test_symbol_checksum_catches_a_desync(tiny_codec):
    """A file whose symbols decode but differ from what was encoded (a recomputed CRC hides the damage
    from the container check) fails with the desync message."""
    from icisp_codec.bitstream import parse, serialize

    data, _ = tiny_codec.encode(dev_image("coffee.png")[:64, :64], 2.5)
    c = parse(data)
    c.symbol_crc ^= 1
    with pytest.raises(DecoderDesync, match="out of sync"):
        tiny_codec.decode(serialize(c))


def test_other_weights_are_refused(tiny_codec):
    from icisp_codec.bitstream import parse, serialize

    data, _ = tiny_codec.encode(dev_image("coffee.png")[:64, :64], 2.5)
    c = parse(data)
    c.weights_id = bytes(8)
    with pytest.raises(ModelError):
        tiny_codec.decode(serialize(c))


def test_lambda_orders_rates(tiny_codec):
    rgb = dev_image("astronaut.png")[:128, :128]
    sizes = [len(tiny_codec.encode(rgb, lam)[0]) for lam in (1.0, 5.0)]
    assert sizes[0] > sizes[1]


def test_cli_encode_decode_info(tiny_weights, tmp_path):
    from icisp_codec.image_io import save_rgb

    src = tmp_path / "in.png"
    save_rgb(dev_image("chelsea.png")[:90, :120], src)
    runner = CliRunner()
    r = runner.invoke(cli, ["encode", str(src), str(tmp_path / "a.icisp"), "--weights", str(tiny_weights),
                            "--lambda", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "bpp" in r.output
    r = runner.invoke(cli, ["decode", str(tmp_path / "a.icisp"), str(tmp_path / "out.png"),
                            "--weights", str(tiny_weights)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["info", str(tmp_path / "a.icisp"), "--json"])
    assert r.exit_code == 0
    info = json.loads(r.output)
    assert (info["width"], info["height"], info["model"]) == (120, 90, "tiny")
    assert info["file_bpp"] == pytest.approx((tmp_path / "a.icisp").stat().st_size * 8 / (120 * 90), abs=1e-6)
    # refuses to overwrite without --force, and exits with the documented code
    r = runner.invoke(cli, ["decode", str(tmp_path / "a.icisp"), str(tmp_path / "out.png"),
                            "--weights", str(tiny_weights)])
    assert r.exit_code == 8


def test_bf16_is_on_by_default_only_where_native(tiny_weights):
    from icisp_codec.codec import Codec, native_bf16

    assert Codec.load(tiny_weights, device="cpu").bf16 == native_bf16(torch.device("cpu"))
    assert Codec.load(tiny_weights, device="cpu", bf16=True).bf16


def test_cli_bf16_file_decodes_without_bf16(tiny_weights, tmp_path):
    """--bf16 changes only the transforms' arithmetic: the file it writes decodes with the fp32 path,
    and the user is told when bf16 is emulated on this CPU."""
    from icisp_codec.codec import native_bf16
    from icisp_codec.image_io import load_rgb, save_rgb

    src = tmp_path / "in.png"
    save_rgb(dev_image("coffee.png")[:64, :96], src)
    runner = CliRunner()
    common = ["--weights", str(tiny_weights), "--device", "cpu"]
    r = runner.invoke(cli, ["encode", str(src), str(tmp_path / "a.icisp"), "--bf16", *common])
    assert r.exit_code == 0, r.output
    assert ("emulated" in r.output) == (not native_bf16(torch.device("cpu")))
    for flags, name in ((["--no-bf16"], "fp32.png"), (["--bf16"], "bf16.png")):
        r = runner.invoke(cli, ["decode", str(tmp_path / "a.icisp"), str(tmp_path / name), *flags, *common])
        assert r.exit_code == 0, r.output
    assert load_rgb(tmp_path / "fp32.png").shape == load_rgb(tmp_path / "bf16.png").shape == (64, 96, 3)


def test_cli_info_does_not_import_torch(tiny_codec, tmp_path):
    path = tmp_path / "x.icisp"
    path.write_bytes(tiny_codec.encode(dev_image("coffee.png")[:32, :32], 2.5)[0])
    code = (
        "import sys; from icisp_codec.cli.main import cli; "
        f"cli(['info', {str(path)!r}], standalone_mode=False); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
