"""Measuring kit: metrics against known values, BD-rate, result documents against the schema."""
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from icisp_codec.evaluation.bdrate import bd_rate
from icisp_codec.evaluation.metrics import ms_ssim, psnr
from icisp_codec.evaluation.records import validate

from .conftest import dev_image


def test_psnr_known_values(rng):
    a = rng.integers(10, 240, (64, 64, 3), dtype=np.uint8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 5) == pytest.approx(10 * math.log10(255**2 / 25))


def test_ms_ssim_known_values():
    a = dev_image("astronaut.png")
    assert ms_ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + np.random.default_rng(0).normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    assert 0.5 < ms_ssim(a, noisy) < 0.999
    assert math.isnan(ms_ssim(a[:100, :100], a[:100, :100]))  # too small for 5 scales


def test_lpips_hed_is_zero_for_identical_and_grows_as_jpeg_quality_falls():
    from icisp_codec.evaluation.lpips_hed import lpips_hed

    a = dev_image("coffee.png")
    assert lpips_hed(a, a) == 0.0
    values = []
    for q in (90, 50, 20, 5):
        buffer = io.BytesIO()
        Image.fromarray(a).save(buffer, "JPEG", quality=q)
        values.append(lpips_hed(a, np.asarray(Image.open(buffer).convert("RGB"))))
    print("LPIPS-HED of coffee.png at JPEG q90/50/20/5:", [round(v, 4) for v in values])
    assert values == sorted(values) and values[0] > 0


def test_bd_rate_zero_for_identical_and_minus_half_for_half_rate():
    rates = [0.1, 0.2, 0.4, 0.8]
    quality = [28.0, 30.5, 33.0, 36.0]
    assert bd_rate(rates, quality, rates, quality)[0] == pytest.approx(0.0, abs=1e-12)
    half = [r / 2 for r in rates]
    assert bd_rate(rates, quality, half, quality)[0] == pytest.approx(-0.5, abs=1e-9)
    lpips = [0.3, 0.2, 0.12, 0.07]
    assert bd_rate(rates, lpips, half, lpips, lower_is_better=True)[0] == pytest.approx(-0.5, abs=1e-9)
    assert math.isnan(bd_rate(rates, quality, rates, [q + 100 for q in quality])[0])  # no overlap


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dev")
    Image.fromarray(dev_image("chelsea.png")[:180, :200]).save(folder / "a.png")
    (folder / "sub").mkdir()
    Image.fromarray(dev_image("coffee.png")[:64, :96]).save(folder / "sub" / "b.png")
    return folder


def test_eval_document_follows_the_schema(tiny_codec, small_folder):
    from icisp_codec.evaluation.runner import eval_icisp

    doc = validate(json.loads(json.dumps(eval_icisp(tiny_codec, small_folder, [1.5, 5.0]))))
    assert sorted(doc["images"]) == ["a.png", "sub/b.png"]
    assert len(doc["records"]) == 4 and len(doc["summary"]) == 2
    r = doc["records"][0]
    assert r["file_bpp"] == pytest.approx(r["file_bytes"] * 8 / (r["width"] * r["height"]))
    assert r["payload_bpp"] < r["file_bpp"]


def test_bench_document_follows_the_schema_and_caches(small_folder, tmp_path):
    from icisp_codec.evaluation.runner import bench_peer

    doc = validate(bench_peer("jpeg", small_folder, qualities=[20, 80], cache_dir=tmp_path))
    assert [row["setting"] for row in doc["summary"]] == [20, 80]
    assert doc["summary"][0]["file_bpp"] < doc["summary"][1]["file_bpp"]
    import json

    cached = json.loads((tmp_path / "jpeg.json").read_text())
    assert len(cached) == 2 * len(doc["images"])  # one record per image and setting
    for record in cached.values():  # what a rerun finds is what it uses: change it, and the rerun shows it
        record["psnr"] = -1.0
    (tmp_path / "jpeg.json").write_text(json.dumps(cached))
    again = bench_peer("jpeg", small_folder, qualities=[20, 80], cache_dir=tmp_path)
    assert all(r["psnr"] == -1.0 for r in again["records"])


def test_schema_rejects_a_broken_document():
    with pytest.raises(ValueError):
        validate({"schema": "icisp-results-1", "codec": "x", "codec_info": {}, "images": [], "records": [{}],
                  "summary": []})
