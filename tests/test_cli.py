"""The command line with real files: batch, shards, rate control, streams, images in the wild, exit codes."""
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from icisp_codec.cli.main import cli

from .conftest import dev_image


def test_batch_mirrors_the_tree_reports_failures_and_exits_nonzero(run, tmp_path):
    src = tmp_path / "in"
    (src / "a" / "b").mkdir(parents=True)
    Image.fromarray(dev_image("coffee.png")[:64, :80]).save(src / "one.png")
    Image.fromarray(dev_image("chelsea.png")[:70, :50]).save(src / "a" / "b" / "two.jpg")
    (src / "a" / "bad.png").write_bytes(b"not an image")
    r = run("encode", src, "-o", tmp_path / "enc", "--json", tmp_path / "summary.json")
    assert r.exit_code == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["files"] == 3 and summary["succeeded"] == 2 and len(summary["failed"]) == 1
    assert "bad.png" in summary["failed"][0]["file"]
    assert (tmp_path / "enc" / "one.icisp").exists() and (tmp_path / "enc" / "a" / "b" / "two.icisp").exists()
    r = run("decode", tmp_path / "enc", "-o", tmp_path / "dec")
    assert r.exit_code == 0
    assert Image.open(tmp_path / "dec" / "a" / "b" / "two.png").size == (50, 70)
    # --skip-existing does nothing the second time
    r = run("decode", tmp_path / "enc", "-o", tmp_path / "dec", "--skip-existing", "--json", tmp_path / "s2.json")
    assert json.loads((tmp_path / "s2.json").read_text())["files"] == 0


def test_shards_partition_the_files(tmp_path):
    from icisp_codec.cli.batch import plan

    src = tmp_path / "in"
    src.mkdir()
    for i in range(20):
        (src / f"{i}.png").write_bytes(b"")
    shards = [{s.name for s, _ in plan(src, tmp_path / "o", False, shard=(i, 3)).jobs} for i in range(3)]
    assert set().union(*shards) == {f"{i}.png" for i in range(20)}
    assert sum(len(s) for s in shards) == 20


def test_target_size_strict_never_exceeds_and_lambda_is_recorded(run, photo, tmp_path):
    from icisp_codec.bitstream import parse

    sizes = {}
    for lam in (1.0, 5.0):
        run("encode", photo, tmp_path / f"{lam}.icisp", "--lambda", lam)
        sizes[lam] = (tmp_path / f"{lam}.icisp").stat().st_size
    target = (sizes[1.0] + sizes[5.0]) // 2
    r = run("encode", photo, tmp_path / "t.icisp", "--target-size", target, "--strict")
    assert r.exit_code == 0, r.output
    size = (tmp_path / "t.icisp").stat().st_size
    assert size <= target
    lam = parse((tmp_path / "t.icisp").read_bytes()).lam
    assert 1.0 < lam < 5.0
    assert f"λ={lam:.4g}" in r.output


def test_stdin_to_stdout_round_trip(run, photo):
    r = run("encode", "-", "-", input=photo.read_bytes())
    assert r.exit_code == 0
    data = r.stdout_bytes
    assert data[:4] == b"ICSP"
    r = run("decode", "-", "-", input=data)
    assert Image.open(io.BytesIO(r.stdout_bytes)).size == (128, 96)


def test_alpha_icc_and_exif_survive_and_strip_drops_them(run, tmp_path):
    rgba = np.dstack([dev_image("coffee.png")[:64, :64], np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: kept as metadata, pixels are not rotated
    icc = b"\0" * 128 + b"fake-icc-profile"
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png", exif=exif, icc_profile=icc)
    r = run("encode", tmp_path / "in.png", tmp_path / "a.icisp")
    assert "alpha channel carried losslessly" in r.output
    run("decode", tmp_path / "a.icisp", tmp_path / "out.png")
    out = Image.open(tmp_path / "out.png")
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    assert out.info.get("icc_profile") == icc and out.getexif()[0x0112] == 6
    run("decode", tmp_path / "a.icisp", tmp_path / "stripped.png", "--strip")
    assert "icc_profile" not in Image.open(tmp_path / "stripped.png").info


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "CMYK"])
def test_other_image_modes_are_converted_with_a_notice(run, tmp_path, mode):
    base = Image.fromarray(dev_image("coffee.png")[:40, :40])
    image = base.convert("L").convert("I;16") if mode == "I;16" else base.convert(mode)
    suffix = ".tif" if mode == "CMYK" else ".png"
    image.save(tmp_path / f"in{suffix}")
    r = run("encode", tmp_path / f"in{suffix}", tmp_path / "a.icisp")
    assert r.exit_code == 0 and "note:" in r.output


def test_hostile_and_damaged_files_get_their_own_exit_codes(run, photo, tmp_path, tiny_weights):
    from icisp_codec.bitstream import parse, serialize

    run("encode", photo, tmp_path / "ok.icisp")
    good = (tmp_path / "ok.icisp").read_bytes()
    wrong_weights = parse(good)
    wrong_weights.weights_id = bytes(8)
    bomb = parse(good)
    bomb.width = bomb.height = 100000
    cases = {
        "empty": (b"", 6, "wrong magic"),
        "magic": (b"PNG!" + good[4:], 6, "wrong magic"),
        "future": (good[:4] + bytes([9]) + good[5:], 6, "version 9"),
        "truncated": (good[: len(good) // 2], 6, "corrupt or truncated"),
        "flipped": (good[:-9] + bytes([good[-9] ^ 4]) + good[-8:], 6, "corrupt or truncated"),
        "weights": (serialize(wrong_weights), 5, "weights"),
        "bomb": (serialize(bomb), 6, "exceeds the limit"),
    }
    for name, (data, code, message) in cases.items():
        (tmp_path / f"{name}.icisp").write_bytes(data)
        r = run("decode", tmp_path / f"{name}.icisp", tmp_path / f"{name}.png")
        assert r.exit_code == code, (name, r.output)
        assert message in r.output, (name, r.output)
        assert "Traceback" not in r.output
        assert not (tmp_path / f"{name}.png").exists()


def test_version_lists_weights_ids():
    import hashlib

    from icisp_codec.weights import WEIGHTS_DIR

    shipped_id = hashlib.sha256((WEIGHTS_DIR / "lite.pt").read_bytes()).hexdigest()[:16]
    for flag in ("--version", "-V"):
        r = CliRunner().invoke(cli, [flag])
        assert r.exit_code == 0 and r.output.startswith("icisp ") and shipped_id in r.output


def test_unreadable_input_and_missing_weights_codes(run, tmp_path):
    assert run("encode", tmp_path / "nope.png", tmp_path / "x.icisp").exit_code == 3
    r = CliRunner().invoke(cli, ["encode", str(tmp_path / "nope.png"), str(tmp_path / "x.icisp"),
                                 "--weights", str(tmp_path / "missing.pt")])
    assert r.exit_code == 5
