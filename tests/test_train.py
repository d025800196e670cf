"""Training: both stages learn, resume is exact, the GAN term is live, DINOv2 loads, DDP keeps replicas equal."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from icisp_codec.train.loop import GAIN_LR_SCALE, MODULATION_LR_SCALE, Trainer, TrainOptions


@pytest.fixture(scope="module")
def train_folder(tmp_path_factory):
    """Synthetic training images (smooth gradients, edges, noise): tests never train on real photos."""
    from icisp_codec.image_io import save_rgb

    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    for i in range(3):
        img = np.stack([xx * rng.uniform(), yy * rng.uniform(), (xx + yy) / 2], axis=-1)
        img[20 + 10 * i : 50, 30:60] = rng.uniform(size=3)
        img += rng.normal(0, 0.03, img.shape)
        save_rgb((np.clip(img, 0, 1) * 255).astype(np.uint8), folder / f"img{i}.png")
    return folder


def _options(folder, out, **kw):
    base = dict(out=str(out), data=[str(folder)], config="tiny", crop=64, batch=2, lr=1e-3, threads=2,
                log_every=1, checkpoint_minutes=1e9)
    base.update(kw)
    return TrainOptions(**base)


def _fixed_batch_losses(trainer, steps):
    x, lam = trainer.next_batch()
    return [trainer.train_step(x, lam)["loss"] for _ in range(steps)]


def test_stage1_reduces_loss_on_a_fixed_batch(train_folder, tmp_path):
    losses = _fixed_batch_losses(Trainer(_options(train_folder, tmp_path)), 8)
    print("stage 1 losses:", [round(v, 3) for v in losses])
    assert losses[-1] < 0.8 * losses[0]


def test_stage2_reduces_loss_on_a_fixed_batch(train_folder, tmp_path):
    losses = _fixed_batch_losses(Trainer(_options(train_folder, tmp_path, stage=2)), 8)
    print("stage 2 losses:", [round(v, 3) for v in losses])
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("stage", [1, 2])
def test_resume_continues_bit_for_bit(train_folder, tmp_path, stage):
    straight = Trainer(_options(train_folder, tmp_path / "a", stage=stage, max_steps=4))
    straight.run()
    first = Trainer(_options(train_folder, tmp_path / "b", stage=stage, max_steps=2))
    first.run()
    resumed = Trainer(_options(train_folder, tmp_path / "b", stage=stage, max_steps=4, resume=True))
    assert resumed.step == 2
    resumed.run()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_takes_the_new_learning_rate(train_folder, tmp_path):
    """A learning-rate schedule is run as resumed runs with a new --lr: the saved optimiser state must not
    override it."""
    Trainer(_options(train_folder, tmp_path / "a", max_steps=1)).run()
    resumed = Trainer(_options(train_folder, tmp_path / "a", max_steps=2, resume=True, lr=3e-5))
    assert resumed.step == 1
    groups = resumed.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([3e-5, 3e-5 * GAIN_LR_SCALE])
    # the faster group holds exactly the rate gains
    gains = {id(p) for p in resumed.model.gains.parameters()}
    assert {id(p) for p in groups[1]["params"]} == gains and not gains & {id(p) for p in groups[0]["params"]}


def test_resume_from_a_single_group_optimiser_state(train_folder, tmp_path):
    """States written before the gains had their own Adam group still resume (with fresh codec moments)."""
    Trainer(_options(train_folder, tmp_path / "a", max_steps=1)).run()
    state = torch.load(tmp_path / "a" / "state.pt", weights_only=False)
    old = state["optimizer"]
    old["param_groups"] = [dict(old["param_groups"][0], params=[i for g in old["param_groups"]
                                                                for i in g["params"]])]
    torch.save(state, tmp_path / "a" / "state.pt")
    resumed = Trainer(_options(train_folder, tmp_path / "a", max_steps=2, resume=True))
    assert resumed.step == 1 and len(resumed.optimizer.param_groups) == 2
    resumed.run()
    assert resumed.step == 2


def test_init_from_weights_continues_the_stage_count(train_folder, tmp_path):
    """Weights exported at step n of stage 1 continue stage 1 at step n (fresh optimisers, new crops);
    starting stage 2 from them counts from 0."""
    first = Trainer(_options(train_folder, tmp_path / "a", max_steps=3))
    first.run()
    weights = str(tmp_path / "a" / "weights.pt")
    same_stage = Trainer(_options(train_folder, tmp_path / "b", init=weights))
    assert same_stage.step == 3
    from_scratch = Trainer(_options(train_folder, tmp_path / "c"))
    assert not torch.equal(same_stage.next_batch()[0], from_scratch.next_batch()[0])
    assert Trainer(_options(train_folder, tmp_path / "d", init=weights, stage=2)).step == 0


def test_lambda_modulation_extends_init_weights_and_is_kept_in_the_exported_weights(train_folder, tmp_path):
    """--lambda-modulation with --init: the run starts from the weights' exact outputs, its stage scales learn,
    and the weights it writes load as a modulated model."""
    from icisp_codec.weights import load_weights

    Trainer(_options(train_folder, tmp_path / "a", max_steps=2)).run()
    plain = load_weights(tmp_path / "a" / "weights.pt")[0]
    trainer = Trainer(_options(train_folder, tmp_path / "b", init=str(tmp_path / "a" / "weights.pt"),
                               lambda_modulation=True, max_steps=4))
    assert [g["lr_scale"] for g in trainer.optimizer.param_groups] == [1.0, GAIN_LR_SCALE, MODULATION_LR_SCALE]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(trainer.model.eval()(x, 3.0)["x_hat"], plain(x, 3.0)["x_hat"])
    trainer.model.train()
    trainer.run()
    scales = [t.detach().abs().max().item() for t in trainer.model.gains.synthesis_log_scales]
    assert max(scales) > 0  # the scales learnt
    reloaded = load_weights(tmp_path / "b" / "weights.pt")[0]
    assert reloaded.cfg.lambda_modulation and len(reloaded.gains.synthesis_log_scales) == 3


def test_rate_exponent_weighs_the_rate_by_a_power_of_lambda(train_folder, tmp_path):
    """--rate-exponent k, --rate-scale s: the gains still see λ, the loss weighs each sample's rate by s·λ^k."""
    trainer = Trainer(_options(train_folder, tmp_path, rate_exponent=2.0, rate_scale=2.5))
    seen = {}

    def recording(key, fn):  # notes the last argument: λ for the model, the rate weight for the loss
        def call(*args, **kwargs):
            seen[key] = args[-1]
            return fn(*args, **kwargs)
        return call

    trainer.forward = recording("gains", trainer.forward)
    trainer.objective.generator_loss = recording("rate", trainer.objective.generator_loss)
    x, lam = trainer.next_batch()
    trainer.train_step(x, lam)
    assert torch.equal(seen["gains"], lam) and torch.allclose(seen["rate"], 2.5 * lam**2)
    assert not torch.allclose(lam**2, lam)  # λ in [1, 5]: the check above could fail


def test_discriminator_drives_the_generator(train_folder, tmp_path):
    """The generator's adversarial term must come from D's output on x̂: changing D changes the G loss."""
    trainer = Trainer(_options(train_folder, tmp_path, stage=2))
    x, lam = trainer.next_batch()
    torch.manual_seed(0)
    out = trainer.model(x, lam)
    loss_before, terms = trainer.objective.generator_loss(out, x, lam)
    with torch.no_grad():
        trainer.objective.discriminator.head.bias += 1.0  # shifts every logit by +1
    loss_after, _ = trainer.objective.generator_loss(out, x, lam)
    weight = trainer.objective.weights["adversarial"]
    assert loss_after.item() == pytest.approx(loss_before.item() - weight, rel=1e-4, abs=1e-4)
    # and D's gradient reaches the reconstruction
    x_hat = out["x_hat"].detach().requires_grad_()
    logits = trainer.objective.discriminator(x_hat, out["y_bar"].detach(), x)
    (grad,) = torch.autograd.grad(-logits.mean(), x_hat)
    assert grad.abs().sum() > 0


def test_loss_weight_overrides_a_stage2_term(train_folder, tmp_path):
    """--loss-weight adversarial=0 (a discriminator warm-up) leaves D training but out of the G loss."""
    trainer = Trainer(_options(train_folder, tmp_path, stage=2, loss_weights={"adversarial": 0.0, "mse": 100.0}))
    assert trainer.objective.weights == {"mse": 100.0, "perceptual": 5.0, "style": 2000.0, "adversarial": 0.0}
    x, lam = trainer.next_batch()
    out = trainer.model(x, lam)
    loss_before, terms = trainer.objective.generator_loss(out, x, lam)
    with torch.no_grad():
        trainer.objective.discriminator.head.bias += 1.0
    loss_after, _ = trainer.objective.generator_loss(out, x, lam)
    assert loss_after.item() == pytest.approx(loss_before.item(), rel=1e-6)
    calls = []
    hook = trainer.objective.discriminator.register_forward_hook(lambda *_: calls.append(1))
    trainer.objective.generator_loss(out, x, lam)
    hook.remove()
    assert not calls  # the zero-weight term costs no discriminator pass
    d_before = [p.detach().clone() for p in trainer.d_params]
    trainer.train_step(x, lam)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.d_params))


def test_discriminator_only_trains_d_and_leaves_the_codec_untouched(train_folder, tmp_path):
    """The warm-up after --init: D learns, every codec parameter and buffer (quantiles too) stays bit-equal."""
    trainer = Trainer(_options(train_folder, tmp_path, stage=2, discriminator_only=True, max_steps=3))
    codec_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    d_before = [p.detach().clone() for p in trainer.d_params]
    trainer.run()
    assert trainer.step == 3
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in codec_before.items())
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.d_params))
    with pytest.raises(ValueError, match="stage 2"):
        Trainer(_options(train_folder, tmp_path / "s1", stage=1, discriminator_only=True))


def test_encoder_only_trains_the_analysis_and_leaves_the_decoder_bit_equal(train_folder, tmp_path):
    """--encoder-only: g_a and h_a learn; everything the decoder computes with (synthesis, hyper-synthesis,
    slice networks, priors and their quantiles, gains, coding tables) stays bit-equal."""
    from icisp_codec.train.loop import ENCODER_PARTS

    trainer = Trainer(_options(train_folder, tmp_path, stage=2, encoder_only=True, max_steps=3))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    encoder = [k for k in before if k.startswith(ENCODER_PARTS)]
    assert encoder and any(not torch.equal(before[k], after[k]) for k in encoder)
    assert all(torch.equal(v, after[k]) for k, v in before.items() if not k.startswith(ENCODER_PARTS))
    # its export keeps the prior's quantiles (a refit would move an untrained prior's by whole units)
    from icisp_codec.train.export import export
    from icisp_codec.weights import load_weights

    export(tmp_path / "state.pt", tmp_path / "w.pt")
    key = "latent_codec.z_codec.entropy_bottleneck.quantiles"
    exported = load_weights(tmp_path / "w.pt")[0].state_dict()[key]
    assert torch.allclose(exported, before[key], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="exclude each other"):
        Trainer(_options(train_folder, tmp_path / "both", stage=2, encoder_only=True, discriminator_only=True))


def test_exported_weights_carry_their_discriminator_into_the_next_run(train_folder, tmp_path):
    """`icisp export` of a stage-2 state writes the discriminator beside the weights; `--init` with them starts
    with that discriminator (to int8 rounding), not a blind one."""
    from icisp_codec.train.export import export
    from icisp_codec.weights import discriminator_path

    first = Trainer(_options(train_folder, tmp_path / "a", stage=2, max_steps=2))
    first.run()
    export(tmp_path / "a" / "state.pt", tmp_path / "w.pt")
    assert discriminator_path(tmp_path / "w.pt").exists()
    trained = first.objective.discriminator.trainable_state_dict()
    fresh = Trainer(_options(train_folder, tmp_path / "b", stage=2))
    continued = Trainer(_options(train_folder, tmp_path / "c", stage=2, init=str(tmp_path / "w.pt")))
    for key, value in trained.items():
        loaded = continued.objective.discriminator.trainable_state_dict()[key].float()
        tolerance = value.float().abs().max() / 100 + 1e-6  # int8 per output channel, fp16 elsewhere
        assert (loaded - value.float()).abs().max() <= tolerance, key
    assert any(not torch.equal(fresh.objective.discriminator.trainable_state_dict()[k], v) for k, v in trained.items())


@pytest.mark.parametrize("args, message", [(["--stage", "2", "--loss-weight", "gan=1"], "TERM=W"),
                                           (["--stage", "2", "--loss-weight", "mse=high"], "not a number"),
                                           (["--stage", "1", "--loss-weight", "mse=1"], "only stage 2"),
                                           (["--stage", "1", "--discriminator-only"], "only stage 2")])
def test_train_rejects_bad_stage2_options(tmp_path, args, message):
    from click.testing import CliRunner

    from icisp_codec.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path), "--data", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output


def test_dinov2_semantic_prior_loads_a_state_dict_file(tmp_path):
    from icisp_codec.train.discriminator import SemanticDiscriminator
    from icisp_codec.train.semantic import DINOv2

    dim, depth, tokens = 128, 2, 1 + 37 * 37  # official checkpoints hold 37x37 position embeddings
    g = torch.Generator().manual_seed(0)
    state = {"cls_token": torch.randn(1, 1, dim, generator=g), "pos_embed": torch.randn(1, tokens, dim, generator=g),
             "mask_token": torch.zeros(1, dim),
             "patch_embed.proj.weight": torch.randn(dim, 3, 14, 14, generator=g) * 0.02,
             "patch_embed.proj.bias": torch.zeros(dim), "norm.weight": torch.ones(dim), "norm.bias": torch.zeros(dim)}
    for i in range(depth):
        p = f"blocks.{i}."
        for name, shape in [("norm1.weight", (dim,)), ("norm1.bias", (dim,)), ("attn.qkv.weight", (3 * dim, dim)),
                            ("attn.qkv.bias", (3 * dim,)), ("attn.proj.weight", (dim, dim)), ("attn.proj.bias", (dim,)),
                            ("ls1.gamma", (dim,)), ("norm2.weight", (dim,)), ("norm2.bias", (dim,)),
                            ("mlp.fc1.weight", (4 * dim, dim)), ("mlp.fc1.bias", (4 * dim,)),
                            ("mlp.fc2.weight", (dim, 4 * dim)), ("mlp.fc2.bias", (dim,)), ("ls2.gamma", (dim,))]:
            state[p + name] = torch.randn(*shape, generator=g) * 0.02
    path = tmp_path / "dinov2.pth"
    torch.save(state, path)
    encoder = DINOv2(path)
    assert torch.equal(encoder.blocks[1].mlp.fc2.weight, state["blocks.1.mlp.fc2.weight"])
    x = torch.rand(2, 3, 64, 64)
    semantic = encoder.semantic_map(x)
    assert semantic.shape == (2, dim, 16, 16)
    d = SemanticDiscriminator(encoder, latent_channels=32)
    logits = d(x, torch.randn(2, 32, 4, 4), x)
    assert logits.shape == (2, 16) and torch.isfinite(logits).all()


def test_ddp_two_processes_keep_replicas_identical(train_folder, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        import torch, torch.distributed as dist
        from icisp_codec.train.loop import TrainOptions, Trainer
        opts = TrainOptions(out={str(tmp_path / 'run')!r}, data=[{str(train_folder)!r}], config="tiny", crop=64,
                            batch=2, lr=1e-3, threads=1, max_steps=3, checkpoint_minutes=1e9, stage=2)
        t = Trainer(opts)
        t.run()
        flat = torch.cat([p.detach().flatten() for p in t.model.parameters()]
                         + [p.detach().flatten() for p in t.d_params])
        gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        assert all(torch.equal(gathered[0], g) for g in gathered), "replicas diverged"
        crops = t.next_batch()[0].flatten()
        drawn = [torch.zeros_like(crops) for _ in range(dist.get_world_size())]
        dist.all_gather(drawn, crops)
        assert not torch.equal(drawn[0], drawn[1]), "the replicas drew the same crops"
        if dist.get_rank() == 0:
            print("replicas identical after", t.step, "steps")
        dist.barrier()  # no rank tears its group down while another still talks to it
        dist.destroy_process_group()
    """))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29517", str(script)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas identical after 3 steps" in result.stdout


def test_train_plot_draws_one_run_and_compares_several(tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from icisp_codec.cli.main import cli

    runs = []
    for name, drift in (("a", 0.0), ("b", 0.5)):
        folder = tmp_path / name
        folder.mkdir()
        val = {p: {"bpp": 0.2 / float(p), "psnr": 25 + drift, "ms_ssim": 0.9, "lpips_hed": 0.15} for p in ("1", "5")}
        records = [{"step": s, "loss": 1.0 / (s + 1), "bpp": 0.2, "psnr": 30.0} for s in range(0, 30, 10)]
        records += [{"step": s, "validation": val} for s in (0, 20)]
        (folder / "log.jsonl").write_text("\n".join(json.dumps(r) for r in records))
        runs.append(str(folder))
    for args, png in ((runs[:1], "one.png"), (runs, "both.png")):
        result = CliRunner().invoke(cli, ["train-plot", *args, "-o", str(tmp_path / png)])
        assert result.exit_code == 0, result.output
        assert Image.open(tmp_path / png).size[0] > 400
    result = CliRunner().invoke(cli, ["train-plot", str(tmp_path), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2  # a folder without log.jsonl
