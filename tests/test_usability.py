"""What a new user meets: the quality knob, rate-control feedback, compact colour profiles, Pillow."""
import io
import re

import numpy as np
import pytest
from PIL import Image

from icisp_codec.bitstream import parse
from icisp_codec.errors import UsageError

from .conftest import dev_image


def test_quality_maps_monotonically_onto_lambda(run, photo, tmp_path):
    lams = []
    for quality in (0, 30, 70, 100):
        assert run("encode", photo, tmp_path / f"{quality}.icisp", "--quality", quality).exit_code == 0
        lams.append(parse((tmp_path / f"{quality}.icisp").read_bytes()).lam)
    assert lams[0] == pytest.approx(5.0) and lams[-1] == pytest.approx(1.0)
    assert lams == sorted(lams, reverse=True) and len(set(lams)) == 4
    assert run("encode", photo, tmp_path / "x.icisp", "--quality", 101).exit_code == 2


def test_a_missed_size_target_is_a_warning_and_an_unreachable_one_is_answered_at_once(run, photo, tmp_path):
    r = run("encode", photo, tmp_path / "a.icisp", "--target-size", 40)
    assert r.exit_code == 0 and "warning: target of 40 bytes missed by" in r.output
    assert "smallest file" in r.output
    r = run("encode", photo, tmp_path / "b.icisp", "--target-size", 40, "--strict")
    assert r.exit_code == 2 and "cannot reach 40 bytes" in r.output
    r = run("encode", photo, tmp_path / "c.icisp", "--target-size", 10**6)  # more than the largest file
    trials = int(re.search(r"after (\d+) trial encodes", r.output).group(1))
    assert r.exit_code == 0 and trials == 2  # the two ends, nothing else
    assert parse((tmp_path / "c.icisp").read_bytes()).lam == pytest.approx(1.0)


def _srgb_icc():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_an_srgb_profile_costs_one_byte_and_decodes_to_srgb(run, tmp_path):
    from icisp_codec.metadata import equivalent_to_srgb

    Image.fromarray(dev_image("coffee.png")[:64, :64]).save(tmp_path / "in.png", icc_profile=_srgb_icc())
    assert run("encode", tmp_path / "in.png", tmp_path / "tag.icisp").exit_code == 0
    assert run("encode", tmp_path / "in.png", tmp_path / "exact.icisp", "--exact-icc").exit_code == 0
    assert run("encode", tmp_path / "in.png", tmp_path / "strip.icisp", "--strip").exit_code == 0
    tag, exact = parse((tmp_path / "tag.icisp").read_bytes()), parse((tmp_path / "exact.icisp").read_bytes())
    assert tag.metadata == {"SRGB": b"\0"} and "ICCZ" in exact.metadata
    sizes = {name: (tmp_path / f"{name}.icisp").stat().st_size for name in ("tag", "exact", "strip")}
    assert sizes["tag"] - sizes["strip"] <= 16 < sizes["exact"] - sizes["strip"]
    run("decode", tmp_path / "tag.icisp", tmp_path / "tag.png")
    run("decode", tmp_path / "exact.icisp", tmp_path / "exact.png")
    assert equivalent_to_srgb(Image.open(tmp_path / "tag.png").info["icc_profile"])
    original = Image.open(tmp_path / "in.png").info["icc_profile"]  # (a profile made now carries today's date)
    assert Image.open(tmp_path / "exact.png").info["icc_profile"] == original
    assert not equivalent_to_srgb(b"\0" * 128 + b"not a profile")


def test_pillow_opens_and_saves_icisp(tiny_weights, tmp_path, monkeypatch):
    import icisp_codec.pillow_plugin as plugin
    from icisp_codec.selection import Codecs

    monkeypatch.setitem(plugin._CODECS, None, Codecs(str(tiny_weights), device="cpu", bf16=False))
    rgba = np.dstack([dev_image("coffee.png")[:48, :80], np.full((48, 80), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.icisp", quality=80)
    assert parse((tmp_path / "a.icisp").read_bytes()).lam < 2.5  # quality 80: more bits than the default
    with Image.open(tmp_path / "a.icisp") as im:
        assert (im.format, im.size, im.mode) == ("ICISP", (80, 48), "RGBA")
        pixels = np.asarray(im)
    assert (pixels[..., 3] == 200).all()
    error = np.abs(pixels[..., :3].astype(int) - rgba[..., :3]).mean()
    assert error < 40  # a (random tiny) codec's reconstruction, not garbage
    buffer = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buffer, format="ICISP", lam=5.0)
    assert parse(buffer.getvalue()).lam == 5.0
    with pytest.raises(UsageError):  # effort reaches the encoder
        Image.fromarray(rgba[..., :3]).save(io.BytesIO(), format="ICISP", effort=9)
