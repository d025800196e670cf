"""Every command-line path does what its option says: presets, the non-strict size search, parallel folders,
--fast-synthesis, models/export, eval/bench/report, the float context path on lite, λ outside the range."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from icisp_codec.bitstream import parse
from icisp_codec.cli.main import cli

from .conftest import dev_image


def test_presets_code_their_lambdas_and_order_the_sizes(run, photo, tmp_path):
    from icisp_codec.model.config import PRESETS

    sizes = {}
    for name, lam in PRESETS.items():
        assert run("encode", photo, tmp_path / f"{name}.icisp", "--preset", name).exit_code == 0
        data = (tmp_path / f"{name}.icisp").read_bytes()
        assert parse(data).lam == lam
        sizes[name] = len(data)
    assert sizes["best"] >= sizes["high"] >= sizes["medium"] >= sizes["low"] and sizes["best"] > sizes["low"]


def test_target_bpp_without_strict_lands_near_the_target(run, photo, tmp_path):
    sizes = [(tmp_path / f"{lam}.icisp", lam) for lam in (1, 5)]
    for path, lam in sizes:
        run("encode", photo, path, "--lambda", lam)
    low, high = (path.stat().st_size * 8 / (96 * 128) for path, _ in sizes)
    target = (low + high) / 2
    r = run("encode", photo, tmp_path / "t.icisp", "--target-bpp", target)
    assert r.exit_code == 0, r.output
    got = (tmp_path / "t.icisp").stat().st_size * 8 / (96 * 128)
    neighbours = []  # no λ in range can land closer than the search did, to within one step of the bisection
    for lam in np.exp(np.linspace(0, np.log(5), 12)):
        run("encode", photo, tmp_path / "n.icisp", "--lambda", float(lam), "-f")
        neighbours.append(abs((tmp_path / "n.icisp").stat().st_size * 8 / (96 * 128) - target))
    assert abs(got - target) <= min(neighbours) + 16 / (96 * 128)
    assert 1.0 < parse((tmp_path / "t.icisp").read_bytes()).lam < 5.0


def test_two_parallel_jobs_code_a_folder_like_one(run, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(dev_image("chelsea.png")[40 * i : 40 * i + 64, :80]).save(src / f"{i}.png")
    assert run("encode", src, "-o", tmp_path / "one").exit_code == 0
    assert run("encode", src, "-o", tmp_path / "two", "-j", 2).exit_code == 0
    for i in range(3):
        assert (tmp_path / "one" / f"{i}.icisp").read_bytes() == (tmp_path / "two" / f"{i}.icisp").read_bytes()
    assert run("decode", tmp_path / "two", "-o", tmp_path / "dec", "-j", 2).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == ["0.png", "1.png", "2.png"]


def test_fast_synthesis_decodes_to_within_rounding(run, photo, tmp_path):
    run("encode", photo, tmp_path / "a.icisp")
    assert run("decode", tmp_path / "a.icisp", tmp_path / "fixed.png").exit_code == 0
    assert run("decode", tmp_path / "a.icisp", tmp_path / "fast.png", "--fast-synthesis").exit_code == 0
    fixed, fast = (np.asarray(Image.open(tmp_path / n), dtype=int) for n in ("fixed.png", "fast.png"))
    assert np.abs(fixed - fast).max() <= 1


def test_models_lists_and_export_writes_loadable_weights(tiny_weights, tmp_path, monkeypatch):
    from icisp_codec.weights import load_weights

    monkeypatch.setenv("ICISP_WEIGHTS_DIR", str(tmp_path / "installed"))
    r = CliRunner().invoke(cli, ["export", str(tiny_weights), str(tmp_path / "installed" / "mine.pt")])
    assert r.exit_code == 0, r.output
    source, exported = load_weights(tiny_weights)[0], load_weights(tmp_path / "installed" / "mine.pt")[0]
    assert source.cfg == exported.cfg
    listed = json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)
    names = {(w["name"], w["origin"]) for w in listed["weights"]}
    assert ("lite", "shipped") in names and ("mine", "installed") in names


def test_eval_bench_and_report_wired_end_to_end(run, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(dev_image("astronaut.png")[:64, :96]).save(folder / "a.png")
    r = run("eval", folder, "--lambda", 1, "--lambda", 5, "--no-lpips", "--json", tmp_path / "icisp.json",
            "--csv", tmp_path / "icisp.csv")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "icisp.json").read_text())
    assert [row["setting"] for row in doc["summary"]] == [1.0, 5.0]
    assert len((tmp_path / "icisp.csv").read_text().splitlines()) == 3  # a header and two rows
    r = run("bench", folder, "--codecs", "jpeg", "--no-lpips", "--json", tmp_path, "--cache", tmp_path / "cache")
    assert r.exit_code == 0, r.output
    r = run("report", tmp_path / "icisp.json", tmp_path / "jpeg.json", "--markdown", tmp_path / "bd.md")
    assert r.exit_code == 0, r.output
    assert "jpeg" in (tmp_path / "bd.md").read_text()
    assert run("bench", folder, "--codecs", "nope").exit_code == 2


def test_lite_codes_with_the_float_context_path_too(shipped_codec):
    """The float path is any configuration's fallback; on lite it codes as well as the integer path (which
    rounds the same networks to a 1/256 grid), and its files decode (the symbol checksum holds)."""
    from icisp_codec.evaluation.metrics import psnr

    rgb = dev_image("chelsea.png")[:128, :192]
    results = {}
    for kind in ("float", "integer"):
        data, _ = shipped_codec.encode(rgb, 2.5, context_path=kind)
        assert parse(data).context_path == kind
        decoded, _ = shipped_codec.decode(data)
        results[kind] = (len(data), psnr(rgb, decoded))
    assert abs(results["float"][0] / results["integer"][0] - 1) < 0.03
    assert abs(results["float"][1] - results["integer"][1]) < 0.2


@pytest.mark.parametrize("lam", [0.999, 5.001, 100.0])
def test_lambda_outside_the_models_range_is_refused_not_clamped(tiny_codec, lam):
    from icisp_codec.errors import UsageError

    with pytest.raises(UsageError, match="outside this model's rate range"):
        tiny_codec.encode(dev_image("coffee.png")[:64, :64], lam)
