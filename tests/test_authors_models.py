"""The authors' released checkpoints: converted, installed, found by id, chosen by λ, refused when broken.

The checkpoints here are written in the authors' layout: their tensor names (models/icisp_gen.py and
models/blocks.py of cshw2021/ICISP), DataParallel's `module.` prefix, inside {"state_dict": ...}, with the
fixed Haar kernels and compressai's CDF buffers their model saves. The names are produced by an inverse of
the converter's mapping written out independently below. Their computation itself was compared with the
converted model by running their code (docs/authors-models.md)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from icisp_codec.cli.main import cli

from .conftest import dev_image

# our name -> their name, applied in order
_THEIRS = [
    ("latent_codec.h_s.mean_branch.", "h_mean_s."), ("latent_codec.h_s.scale_branch.", "h_scale_s."),
    ("latent_codec.h_a.", "h_a."), ("latent_codec.y_codec.mean_nets.", "cc_mean_transforms."),
    ("latent_codec.y_codec.scale_nets.", "cc_scale_transforms."), ("latent_codec.y_codec.lrp_nets.", "lrp_transforms."),
    ("latent_codec.z_codec.entropy_bottleneck.", "entropy_bottleneck."),
    ("latent_codec.y_codec.gaussian.", "gaussian_conditional."),
    (".norm1.", ".norm1.body."), (".norm2.", ".norm2.body."), (".fdmb.mlp.", ".ffn.ffn."),
    (".fdmb.low.", ".ffn.vssb_low."), (".fdmb.high.", ".ffn.vssb_high."), (".evssb.", ".vssb."),
    (".dwconv.", ".conv2d."), (".local.", ".local_model."), (".ss2d.x_proj_weight", ".x_proj_weight"),
    (".ss2d.dt_proj_weight", ".dt_projs_weight"), (".ss2d.dt_proj_bias", ".dt_projs_bias"),
    (".ss2d.A_log", ".A_logs"), (".ss2d.D", ".Ds"),
]


def _their_state(model):
    state = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("gains.") or key.endswith((".freqs", ".lengths", ".offsets", ".scale_thresholds")):
            continue  # theirs has no rate gains and no integer tables
        for ours, theirs in _THEIRS:
            key = key.replace(ours, theirs) if not ours.startswith("latent") else (
                theirs + key[len(ours):] if key.startswith(ours) else key)
        state[key] = tensor.clone()
    haar = torch.tensor([[[1, 1], [1, 1]], [[1, -1], [1, -1]], [[1, 1], [-1, -1]], [[1, -1], [-1, 1]]],
                        dtype=torch.float32)
    for key in [k for k in state if k.endswith(".ffn.ffn.0.weight")]:
        channels = state[key].shape[1]
        state[key.replace(".ffn.ffn.0.weight", ".ffn.haar_op.haar_weights")] = haar[:, None].repeat(channels, 1, 1, 1)
    for prefix in ("entropy_bottleneck.", "gaussian_conditional."):  # compressai's tables after update()
        state[prefix + "_quantized_cdf"] = torch.zeros(4, 30, dtype=torch.int32)
        state[prefix + "_offset"] = torch.zeros(4, dtype=torch.int32)
        state[prefix + "_cdf_length"] = torch.zeros(4, dtype=torch.int32)
    state["gaussian_conditional.scale_table"] = torch.exp(torch.linspace(np.log(0.11), np.log(256), 64))
    return state


@pytest.fixture(scope="module")
def paper_model():
    from icisp_codec.model import build_model

    torch.manual_seed(3)
    return build_model("paper")


def _checkpoint(path, model, edit=None):
    state = _their_state(model)
    assert len(state) == 649  # as many entries as the authors' model saves
    if edit:
        edit(state)
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}, "loss": 0.5}, path)
    return path


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("ICISP_WEIGHTS_DIR", str(tmp_path / "installed"))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_a_converted_checkpoint_codes_images_with_the_whole_cli(run, tmp_path, paper_model):
    from icisp_codec.weights import load_weights

    checkpoint = _checkpoint(tmp_path / "model_2.5.pth", paper_model)
    r = run("convert-weights", checkpoint)
    assert r.exit_code == 0, r.output
    installed = tmp_path / "installed" / "paper-2.5.pt"
    converted, _, info = load_weights(installed)
    assert info["lambda"] == 2.5 and converted.gains.lambda_range == (2.5, 2.5)
    source = paper_model.state_dict()
    for key, tensor in converted.state_dict().items():  # every trained tensor exactly as it was
        if key in source and not key.startswith("gains.") and tensor.is_floating_point():
            assert torch.equal(tensor, source[key]), key
    models = json.loads(run("models", "--json").output)["weights"]
    assert any(m["name"] == "paper-2.5" and m["lambda_min"] == 2.5 and m["origin"] == "installed" for m in models)
    Image.fromarray(dev_image("astronaut.png")[100:164, 180:244]).save(tmp_path / "in.png")
    r = run("encode", tmp_path / "in.png", tmp_path / "a.icisp", "--weights", "paper", "--lambda", 2.5)
    assert r.exit_code == 0, r.output
    r = run("decode", tmp_path / "a.icisp", tmp_path / "out.png")  # the weights found by the file's id
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "out.png").size == (64, 64)
    r = run("encode", tmp_path / "in.png", tmp_path / "b.icisp", "--weights", "paper", "--lambda", 1.5)
    assert r.exit_code == 2 and "λ = 2.5" in r.output


def test_rate_control_chooses_among_fixed_rate_models(run, tmp_path, paper_model):
    from icisp_codec.bitstream import parse

    def coarser(state):  # a model that makes smaller files: its latents halved
        state["g_a.6.weight"] *= 0.25
        state["g_a.6.bias"] *= 0.25

    run("convert-weights", _checkpoint(tmp_path / "model_1.pth", paper_model))
    run("convert-weights", _checkpoint(tmp_path / "model_5.pth", paper_model, coarser))
    Image.fromarray(dev_image("astronaut.png")[100:164, 180:244]).save(tmp_path / "in.png")
    sizes = {}
    for lam in (1, 5):
        assert run("encode", tmp_path / "in.png", tmp_path / f"{lam}.icisp", "--weights", "paper",
                   "--lambda", lam).exit_code == 0
        sizes[lam] = (tmp_path / f"{lam}.icisp").stat().st_size
    assert sizes[5] < sizes[1]
    r = run("encode", tmp_path / "in.png", tmp_path / "t.icisp", "--weights", "paper", "--target-size",
            sizes[1] - 1, "--strict")
    assert r.exit_code == 0, r.output
    assert parse((tmp_path / "t.icisp").read_bytes()).lam == 5.0 and "λ=5" in r.output
    r = run("encode", tmp_path / "in.png", tmp_path / "u.icisp", "--weights", "paper", "--target-size", 10, "--strict")
    assert r.exit_code == 2 and "cannot reach" in r.output


@pytest.mark.parametrize("damage", ["missing", "shape", "not a checkpoint"])
def test_broken_checkpoints_are_refused_with_exit_5(run, tmp_path, paper_model, damage):
    path = tmp_path / "model_2.5.pth"
    if damage == "missing":
        _checkpoint(path, paper_model, lambda s: s.pop("g_s.3.vssb.A_logs"))
    elif damage == "shape":
        _checkpoint(path, paper_model, lambda s: s.update({"lrp_transforms.0.0.bias": torch.zeros(3)}))
    else:
        path.write_bytes(b"PK\x03\x04 not a checkpoint")
    r = run("convert-weights", path)
    assert r.exit_code == 5, r.output
    assert "Traceback" not in r.output and ("g_s.3" in r.output or "lrp_transforms" in r.output
                                            or "checkpoint" in r.output)
