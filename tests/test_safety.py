"""Hostile paths, files and options: never overwrite what must not be, never take unbounded work from a small
file, and every failure is the documented exit code with one line, never an internal error."""
import json
import math
import os
import pty
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from icisp_codec.bitstream import parse, serialize
from icisp_codec.cli.main import cli

from .conftest import dev_image


@pytest.fixture
def coded(run, photo, tmp_path):
    path = tmp_path / "photo.icisp"
    assert run("encode", photo, path).exit_code == 0
    return path


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output


# --- data loss ------------------------------------------------------------------------------------------
def test_a_link_planted_at_the_temporary_name_is_never_written_through(run, photo, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (".t1.icisp.icisp-tmp", ".t1.icisp.tmp", "t1.icisp.tmp"):  # every predictable name
        (out / name).symlink_to(victim)
    assert run("encode", photo, out / "t1.icisp").exit_code == 0
    assert victim.read_text() == "precious"
    assert (out / "t1.icisp").is_file() and not (out / "t1.icisp").is_symlink()
    assert (out / "t1.icisp").read_bytes()[:4] == b"ICSP"
    leftovers = [p.name for p in out.iterdir() if p.name.endswith("icisp-tmp") and not p.is_symlink()]
    assert not leftovers


def test_an_existing_output_link_is_replaced_not_followed_with_force(run, photo, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out.icisp").symlink_to(victim)
    _one_line_error(run("encode", photo, tmp_path / "out.icisp"), 8)  # exists, no -f
    assert run("encode", photo, tmp_path / "out.icisp", "-f").exit_code == 0
    assert victim.read_text() == "precious" and not (tmp_path / "out.icisp").is_symlink()


@pytest.mark.parametrize("how", ["same", "link", "dotdot", "hardlink"])
def test_the_input_is_never_the_output_even_with_force(run, photo, coded, tmp_path, how):
    (tmp_path / "sub").mkdir()
    for source in (photo, coded):
        before = source.read_bytes()
        if how == "same":
            target = source
        elif how == "dotdot":
            target = tmp_path / "sub" / ".." / source.name
        else:
            target = tmp_path / f"{how}-{source.name}"
            target.unlink(missing_ok=True)
            (target.symlink_to if how == "link" else target.hardlink_to)(source)
        command = "encode" if source == photo else "decode"
        r = run(command, source, target, "-f")
        _one_line_error(r, 8)
        assert "is the input file" in r.output
        assert source.read_bytes() == before


def test_two_inputs_for_one_output_are_refused_before_coding(run, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(dev_image("coffee.png")[:64, :64]).save(src / "good1.png")
    Image.fromarray(dev_image("coffee.png")[64:128, :64]).save(src / "good1.jpg")
    r = run("encode", src, "-o", tmp_path / "out", "-f")
    _one_line_error(r, 2)
    assert "good1.png" in r.output and "good1.jpg" in r.output
    assert not (tmp_path / "out").exists()


# --- small file, unbounded work -----------------------------------------------------------------------
def _crafted(coded, **fields):
    c = parse(coded.read_bytes())
    for key, value in fields.items():
        setattr(c, key, value)
    if "width" in fields or "height" in fields:
        from icisp_codec.geometry import tile_count

        c.tiles = [(b"", b"")] * tile_count(c.width, c.height, c.tile_latents)
    return serialize(c)


@pytest.mark.parametrize("width,height", [(67_108_864, 1), (1, 67_108_864), (16385, 16384)])
def test_the_pixel_limit_applies_to_the_padded_size(run, coded, tmp_path, width, height):
    (tmp_path / "bomb.icisp").write_bytes(_crafted(coded, width=width, height=height, tile_latents=4096))
    start = time.perf_counter()
    r = run("decode", tmp_path / "bomb.icisp", tmp_path / "bomb.png")
    _one_line_error(r, 6)
    assert "exceeds the limit" in r.output and time.perf_counter() - start < 10


def test_substreams_too_short_for_their_symbols_are_refused_before_any_network(run, coded, tmp_path):
    (tmp_path / "empty.icisp").write_bytes(_crafted(coded, width=4096, height=4096))
    start = time.perf_counter()
    r = run("decode", tmp_path / "empty.icisp", tmp_path / "empty.png")
    _one_line_error(r, 6)
    assert "too short" in r.output and time.perf_counter() - start < 10


@pytest.mark.parametrize("lam", [math.nan, -1.0, 0.0, math.inf, 1e30, 7.0])
def test_lambda_in_the_header_must_be_the_models(run, coded, tmp_path, lam):
    (tmp_path / "lam.icisp").write_bytes(_crafted(coded, lam=lam))
    _one_line_error(run("decode", tmp_path / "lam.icisp", tmp_path / "lam.png"), 6)
    r = run("info", tmp_path / "lam.icisp", "--json")
    if lam > 0 and math.isfinite(lam):  # in range for the header; only the model knows its range
        assert json.loads(r.output)["lambda"] == pytest.approx(lam, rel=1e-6)
    else:
        _one_line_error(r, 6)


# --- wrong results or wrong exits --------------------------------------------------------------------
def test_float_images_are_read_by_their_range(run, tmp_path):
    gray = dev_image("coffee.png")[:64, :64].mean(axis=2)
    Image.fromarray((gray / 255).astype(np.float32), "F").save(tmp_path / "unit.tif")
    r = run("encode", tmp_path / "unit.tif", tmp_path / "a.icisp")
    assert r.exit_code == 0 and "[0, 1]" in r.output
    from icisp_codec.cli.files import load_input

    assert abs(load_input(tmp_path / "unit.tif").rgb.mean() - gray.mean()) < 1
    Image.fromarray(np.full((8, 8), 1e6, np.float32), "F").save(tmp_path / "huge.tif")
    _one_line_error(run("encode", tmp_path / "huge.tif", tmp_path / "b.icisp"), 4)


def test_a_weights_name_is_never_a_file_in_the_current_folder(tmp_path, monkeypatch):
    from icisp_codec.errors import ModelError
    from icisp_codec.weights import WEIGHTS_DIR, resolve

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lite").mkdir()
    assert resolve("lite") == WEIGHTS_DIR / "lite.pt"
    (tmp_path / "lite").rmdir()
    (tmp_path / "lite").write_bytes(b"not weights")
    assert resolve("lite") == WEIGHTS_DIR / "lite.pt"
    with pytest.raises(ModelError, match="not an icisp weights file"):  # a path when it says so
        resolve("./lite")


def _with_chunk(coded, tag, data):
    c = parse(coded.read_bytes())
    c.metadata[tag] = data
    return serialize(c)


def test_damaged_alpha_chunks_are_corrupt_files(run, coded, tmp_path):
    wrong_size, bomb = (tmp_path / "w.png"), (tmp_path / "b.png")
    Image.new("L", (5, 5)).save(wrong_size)
    Image.new("L", (30000, 30000)).save(bomb, optimize=True)
    chunks = (("garbage", b"\x89PNG garbage"), ("size", wrong_size.read_bytes()), ("bomb", bomb.read_bytes()))
    for name, chunk in chunks:
        (tmp_path / f"{name}.icisp").write_bytes(_with_chunk(coded, "ALPH", chunk))
        _one_line_error(run("decode", tmp_path / f"{name}.icisp", tmp_path / f"{name}.png"), 6)


def test_exif_too_big_for_jpeg_is_dropped_with_a_notice(run, coded, tmp_path):
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # image description
    (tmp_path / "exif.icisp").write_bytes(_with_chunk(coded, "EXIF", exif.tobytes()))
    r = run("decode", tmp_path / "exif.icisp", tmp_path / "out.jpg")
    assert r.exit_code == 0 and "EXIF" in r.output and "dropped" in r.output
    assert Image.open(tmp_path / "out.jpg").size == (128, 96)


def test_outputs_that_cannot_be_written_are_exit_8(run, photo, coded, tmp_path):
    (tmp_path / "file").write_text("a regular file")
    _one_line_error(run("encode", photo, tmp_path / "file" / "x.icisp"), 8)
    _one_line_error(run("decode", coded, tmp_path / "file" / "x.png"), 8)
    (tmp_path / "folder.png").mkdir()
    _one_line_error(run("decode", coded, tmp_path / "folder.png", "-f"), 8)


@pytest.mark.parametrize("args", [
    ("encode", "{photo}", "x.icisp", "--target-bpp", "nan"), ("encode", "{photo}", "x.icisp", "--target-bpp", "inf"),
    ("encode", "{photo}", "x.icisp", "--target-bpp", "0"), ("encode", "{photo}", "x.icisp", "--target-bpp", "-1"),
    ("encode", "{photo}", "x.icisp", "--target-size", "-5"), ("--threads", "-1", "info", "{photo}"),
    ("encode", "{photo}", "x.icisp", "-j", "0"), ("decode", "x.icisp", "x.png", "--max-pixels", "0"),
    ("decode", "x.icisp", "x.png", "--format", "NOPE"), ("encode", "{photo}", "x.icisp", "--lambda", "nan"),
    ("encode", "{photo}", "x.icisp", "--lambda", "9"),
])
def test_bad_option_values_are_usage_errors(run, photo, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    _one_line_error(run(*[a.format(photo=photo) for a in args]), 2)


def _weights_with(tiny_weights, tmp_path, name, edit_meta=None, edit_tensors=None):
    import io

    import torch

    with zipfile.ZipFile(tiny_weights) as archive:
        meta, tensors = json.loads(archive.read("meta.json")), archive.read("tensors.pt")
    if edit_tensors:
        state = torch.load(io.BytesIO(tensors), weights_only=True)
        edit_tensors(state)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tensors = buffer.getvalue()
        import hashlib

        meta["sha256"] = hashlib.sha256(tensors).hexdigest()
    if edit_meta:
        edit_meta(meta)
    path = tmp_path / f"{name}.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps(meta))
        archive.writestr("tensors.pt", tensors)
    return path


def test_broken_weights_are_exit_5_without_huge_allocations(run, photo, tiny_weights, tmp_path):
    import resource

    cases = {
        "config": _weights_with(tiny_weights, tmp_path, "config", edit_meta=lambda m: m["config"].pop("M")),
        "absurd": _weights_with(tiny_weights, tmp_path, "absurd",
                                edit_meta=lambda m: m["config"].update(N=4096 * 16, M=4096 * 16)),
        "missing": _weights_with(tiny_weights, tmp_path, "missing",
                                 edit_tensors=lambda s: s.pop(next(k for k in s if "g_s" in k))),
        "shape": _weights_with(tiny_weights, tmp_path, "shape", edit_tensors=lambda s: s.update(
            {k: s[k][:1] for k in [next(k for k in s if k.startswith("g_a") and k.endswith("bias"))]})),
    }
    data = bytearray(tiny_weights.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit in the tensor data
    cases["flipped"] = tmp_path / "flipped.pt"
    cases["flipped"].write_bytes(bytes(data))
    for name, path in cases.items():
        r = CliRunner().invoke(cli, ["encode", str(photo), str(tmp_path / f"{name}.icisp"), "--weights", str(path)])
        _one_line_error(r, 5)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 8 * 2**20  # KiB: no huge model was built


def test_unreadable_inputs_are_exit_3(run, tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "file").write_text("x")
    _one_line_error(run("encode", tmp_path / "loop.png", tmp_path / "a.icisp"), 3)
    _one_line_error(run("encode", tmp_path / "file" / "x.png", tmp_path / "b.icisp"), 3)


def test_batch_names_every_failure_and_reports_broken_links(run, coded, photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad.icisp").write_bytes(coded.read_bytes()[:-7])
    (src / "dangling.icisp").symlink_to(tmp_path / "gone.icisp")
    (src / "ok.icisp").write_bytes(coded.read_bytes())
    r = run("decode", src, "-o", tmp_path / "out", "--json", tmp_path / "s.json")
    assert r.exit_code == 1
    failed = {f["file"]: f["error"] for f in json.loads((tmp_path / "s.json").read_text())["failed"]}
    assert set(failed) == {str(src / "bad.icisp"), str(src / "dangling.icisp")}
    assert all(name in error for name, error in failed.items())
    assert "bad.icisp" in r.output and "dangling.icisp" in r.output
    r = run("decode", "-", tmp_path / "x.png", input=b"garbage")
    _one_line_error(r, 6)
    assert "<stdin>" in r.output and "BytesIO" not in r.output


def test_binary_output_to_a_terminal_is_refused(photo, tiny_weights, tmp_path):
    main, secondary = pty.openpty()
    code = "import sys; from icisp_codec.cli.main import main; sys.argv = sys.argv[1:]; main()"
    result = subprocess.run([sys.executable, "-c", code, "icisp", "encode", str(photo), "-", "--weights",
                             str(tiny_weights)], stdout=secondary, stderr=subprocess.PIPE, timeout=300)
    os.close(secondary)
    os.close(main)
    assert result.returncode == 2 and b"terminal" in result.stderr
