"""The resumable training loop behind `icisp train`.

State (model, optimisers, step, RNGs, sampler position) is written atomically to <out>/state.pt every few
minutes and on SIGINT/SIGTERM; compact weights (int8/fp16, coding tables built) go to <out>/weights.pt at the
same time; curves go to <out>/log.jsonl. `--resume` continues from state.pt; `--init WEIGHTS` starts from a
weights file with fresh optimiser state (and, in stage 2, with the discriminator exported beside it).
"""
import copy
import importlib.util
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist

from ..device import use_bf16
from ..model import build_model
from ..model.network import upgrade_state_dict
from ..model.rate import STAGE_TABLE_MARK
from ..weights import discriminator_path, load_tensors, load_weights, save_weights
from .curves import plot_curves
from .data import CropSampler
from .losses import sample_lambdas
from .objectives import Stage1, Stage2
from .validate import Validator, load_validation_crops


@dataclass
class TrainOptions:
    out: str
    data: list
    config: str = "lite"
    stage: int = 1
    crop: int = 256
    batch: int = 8
    lr: float = 1e-4
    aux_lr: float = 1e-3
    max_steps: int = 0  # 0: no step limit
    max_minutes: float = 0.0  # 0: no time limit
    bf16: bool | None = None  # None: where the hardware computes bf16 natively (use_bf16)
    threads: int = 0  # 0: all cores
    resume: bool = False
    init: str = ""
    val: str = ""
    val_every: int = 500
    checkpoint_minutes: float = 10.0
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"
    d_lr: float = 1e-4
    semantic: str = "efficientnet-lite0"  # or "dinov2" with semantic_weights
    semantic_weights: str = ""
    loss_weights: dict = field(default_factory=dict)  # stage-2 term -> weight, overriding the paper's
    rate_exponent: float = 1.0  # the loss weighs the rate by s·λ^k; k = 1, s = 1 is the paper's λ·bpp
    rate_scale: float = 1.0  # s: with k < 3, s = 2.5^(3-k) keeps the weight of λ 2.5 where λ^3 puts it
    discriminator_only: bool = False  # stage 2: the codec is frozen and only D learns (a warm-up)
    encoder_only: bool = False  # only the analysis transforms learn, on the rate of the rounded symbols
    lambda_modulation: bool = False  # add λ-dependent stage scales (identity at first) to a model without them

    def __post_init__(self):
        if self.stage != 2 and (self.loss_weights or self.discriminator_only):
            raise ValueError("only stage 2 has weighted loss terms and a discriminator")
        if self.encoder_only and self.discriminator_only:
            raise ValueError("--encoder-only and --discriminator-only exclude each other")


# What --encoder-only trains: the parts only the encoder runs. Everything the decoder computes with (synthesis,
# hyper-synthesis, slice networks, priors, rate gains) stays as it was: only what the encoder sends changes.
ENCODER_PARTS = ("g_a.", "latent_codec.h_a.")


# The rate gains are one log-scale per latent channel and preset, so at the base rate they settle slowly
# (0.1-0.2 in 14 k steps of stage 1); they learn at this multiple of --lr. Even so they stay where they are
# (~0.03 in 600 steps), so the presets' rate spread comes from the transforms and the loss's rate weights
# (--rate-exponent), not from the gains' learning rate.
GAIN_LR_SCALE = 10.0
# λ modulation's stage scales start at 1 beside trained weights; at the gains' rate they moved 0.2% on average
# in 100 steps, so they learn faster still.
MODULATION_LR_SCALE = 100.0


def _set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def _main_param_groups(model, lr, exclude):
    """Adam groups for the codec's trainable parameters: the rate gains at GAIN_LR_SCALE·lr, λ modulation's
    stage scales (when the model has them) at MODULATION_LR_SCALE·lr, the rest at lr."""
    groups = {1.0: [], GAIN_LR_SCALE: [], MODULATION_LR_SCALE: []}
    for name, param in model.named_parameters():
        if name in exclude or not param.requires_grad:
            continue
        if STAGE_TABLE_MARK in name:
            groups[MODULATION_LR_SCALE].append(param)
        else:
            groups[GAIN_LR_SCALE if name.startswith("gains.") else 1.0].append(param)
    return [{"params": params, "lr": lr * scale, "lr_scale": scale} for scale, params in groups.items()
            if params or scale != MODULATION_LR_SCALE]


def run_info(step, options):
    """What an exported weights file records of the training run it comes from."""
    info = {"step": step, "stage": options.get("stage")}
    if options.get("encoder_only"):
        info["encoder_only"] = True
    return info


def save_export(model, path, info):
    """Build the coding tables and write compact weights (-> weights id). An encoder-only run keeps the prior's
    quantiles: they belong to the decoder it did not train."""
    model.build_tables(fit_quantiles=not info.get("encoder_only"))
    return save_weights(model, path, info=info)


def _group_sizes(param_groups):
    """How many parameters each optimiser group holds: states of another layout cannot be loaded."""
    return [len(group["params"]) for group in param_groups]


def load_training_weights(model, state_dict):
    """Load model weights from a training state. Coding tables are derived data (rebuilt at every export),
    so a state written before a table buffer existed still loads."""
    result = model.load_state_dict(upgrade_state_dict(state_dict), strict=False)
    derived = (".freqs", ".lengths", ".offsets", ".scale_thresholds")
    other = [k for k in result.missing_keys + result.unexpected_keys if not k.endswith(derived)]
    if other:
        raise RuntimeError(f"training state does not match the model: {other[:5]}")


def with_lambda_modulation(model):
    """The model with λ-dependent stage scales added (rate.py), at 1: it computes what the model computes."""
    if model.cfg.lambda_modulation:
        return model
    modulated = build_model(replace(model.cfg, lambda_modulation=True))
    result = modulated.load_state_dict(model.state_dict(), strict=False)
    if result.unexpected_keys or not all(STAGE_TABLE_MARK in k for k in result.missing_keys):
        raise RuntimeError(f"cannot add λ modulation to this model: {result}")
    return modulated


def _init_distributed(device):
    """Under torchrun (WORLD_SIZE > 1): join the process group (gloo on CPU, nccl on CUDA)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _average_gradients(params, world):
    """All-reduce gradients of parameters that live outside the DDP wrapper (discriminator, quantiles)."""
    if world == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


class Trainer:
    def __init__(self, opts: TrainOptions):
        self.opts = opts
        self.out = Path(opts.out)
        self.device = torch.device(opts.device)
        if self.device.type == "cuda":
            import os

            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.opts = opts = replace(opts, bf16=use_bf16(opts.bf16, self.device))
        self.rank, self.world = _init_distributed(self.device)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        torch.manual_seed(opts.seed)  # same initial weights on every replica
        self.step = 0
        if opts.init:
            model, _, info = load_weights(opts.init)
            # Continuing a stage from its exported weights keeps the step count, so logs and the schedule
            # line up across machines; a new stage counts from 0.
            if info.get("stage") == opts.stage:
                self.step = int(info.get("step", 0))
        else:
            model = build_model(opts.config)
        self.model = with_lambda_modulation(model) if opts.lambda_modulation else model
        self.model.to(self.device).train()
        if opts.encoder_only:  # before DDP, which registers the parameters that get gradients
            for name, param in self.model.named_parameters():
                param.requires_grad_(name.startswith(ENCODER_PARTS))
        self.forward = self.model
        if self.world > 1:
            self.forward = torch.nn.parallel.DistributedDataParallel(self.model)
        aux = {n for n, p in self.model.named_parameters() if n.endswith(".quantiles")}
        params = dict(self.model.named_parameters())
        self.optimizer = torch.optim.Adam(_main_param_groups(self.model, opts.lr, aux))
        self.main_params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.aux_params = [params[n] for n in aux]
        self.aux_optimizer = torch.optim.Adam(self.aux_params, lr=opts.aux_lr)
        if opts.stage == 2:
            self.objective = Stage2(self.model.cfg.M, opts.semantic, opts.semantic_weights or None,
                                    opts.loss_weights).to(self.device)
            self.d_params = [p for n, p in self.objective.discriminator.named_parameters()
                             if not n.startswith("semantic.")]
            self.d_optimizer = torch.optim.Adam(self.d_params, lr=opts.d_lr)
        else:
            self.objective = Stage1()
        # Each replica draws its own crops and rate weights; a run continued from weights at step n draws
        # new ones rather than repeating those of step 0.
        seed = opts.seed + self.step + 1000 * self.rank
        self.sampler = CropSampler(opts.data, crop=opts.crop, seed=seed)
        self.lambda_rng = torch.Generator().manual_seed(seed + 1)
        self.validator = Validator(load_validation_crops(opts.val)) if opts.val and self.rank == 0 else None
        self._stop = False
        self.resumed = opts.resume and (self.out / "state.pt").exists()
        if self.resumed:
            self.load_state()
        elif opts.init and self.objective.has_discriminator:
            self.load_discriminator(discriminator_path(opts.init))

    # --- state ------------------------------------------------------------------------------------------
    def state(self):
        state = {
            "options": asdict(self.opts),
            "config": self.model.cfg.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "step": self.step,
            "sampler": self.sampler.state(),
            "lambda_rng": self.lambda_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.objective.has_discriminator:
            state["discriminator"] = self.objective.discriminator.trainable_state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
        return state

    def load_state(self):
        state = torch.load(self.out / "state.pt", map_location=self.device, weights_only=False)
        load_training_weights(self.model, state["model"])
        if _group_sizes(state["optimizer"]["param_groups"]) == _group_sizes(self.optimizer.param_groups):
            self.optimizer.load_state_dict(state["optimizer"])
        else:  # a state from before the gains had their own group, or with other parameters trained
            # (--encoder-only): Adam's moments restart, as with --init
            print("optimiser layout changed since this state was written: codec optimiser state restarts",
                  file=sys.stderr)
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        _set_lr(self.optimizer, self.opts.lr)  # the command line's rate wins, so a schedule is a new --lr
        self.step = state["step"]
        self.sampler.set_state(state["sampler"])
        self.lambda_rng.set_state(state["lambda_rng"])
        torch.set_rng_state(state["torch_rng"])
        if self.objective.has_discriminator and "discriminator" in state:
            self.objective.discriminator.load_state_dict(state["discriminator"], strict=False)
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            _set_lr(self.d_optimizer, self.opts.d_lr)

    def load_discriminator(self, path):
        """Start stage 2 with the discriminator exported beside the --init weights, when there is one."""
        if not path.exists():
            print(f"no discriminator at {path}: it starts blind (warm it up with --discriminator-only)",
                  file=sys.stderr)
            return
        state, meta = load_tensors(path)
        if meta.get("semantic") != self.opts.semantic:
            print(f"{path} was trained with --semantic {meta.get('semantic')}: not used", file=sys.stderr)
            return
        self.objective.discriminator.load_state_dict(state, strict=False)
        print(f"discriminator from {path}", file=sys.stderr)

    def save(self):
        if self.rank != 0:
            return
        tmp = self.out / "state.pt.tmp"
        torch.save(self.state(), tmp)
        tmp.replace(self.out / "state.pt")
        export = copy.deepcopy(self.model).cpu().eval()
        save_export(export, self.out / "weights.pt", run_info(self.step, asdict(self.opts)))

    # --- one step -----------------------------------------------------------------------------------------
    def rate_weight(self, lam):
        """Each sample's weight on the rate term: s·λ^k (--rate-scale, --rate-exponent; the paper's 1·λ^1)."""
        return self.opts.rate_scale * lam.pow(self.opts.rate_exponent)

    def train_step(self, x, lam):
        if self.opts.discriminator_only:
            return self.discriminator_step(x, lam)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.opts.bf16):
            # λ picks the gains; λ^k weighs the rate. An encoder-only step counts the bits of exactly the
            # symbols coding sends (straight-through rounding), as the encoder's latent search does.
            out = self.forward(x, lam, rounded=self.opts.encoder_only)
            loss, terms = self.objective.generator_loss(out, x, self.rate_weight(lam))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.main_params, 1.0)
        self.optimizer.step()
        if self.objective.has_discriminator:  # one D step per G step, after it
            terms.update(self.update_discriminator(out, x))
        if self.opts.encoder_only:  # the prior's quantiles belong to the decoder's coding tables
            terms.update(loss=loss.item())
            return terms
        aux_loss = self.model.aux_loss()
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux_loss.backward()
        _average_gradients(self.aux_params, self.world)
        self.aux_optimizer.step()
        self.aux_optimizer.zero_grad(set_to_none=True)  # no gradient is carried into the next step
        terms.update(loss=loss.item(), aux=aux_loss.item())
        return terms

    def discriminator_step(self, x, lam):
        """A D step against the frozen codec: its forward pass needs no graph, and neither the codec nor its
        entropy bottleneck's quantiles change, so a warm-up leaves the starting weights exactly as they were."""
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.opts.bf16):
            out = self.forward(x, lam)
        return self.update_discriminator(out, x)

    def update_discriminator(self, out, x):
        """One optimiser step of D on the codec's output (detached inside discriminator_loss)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.opts.bf16):
            d_loss, terms = self.objective.discriminator_loss(out, x)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        _average_gradients(self.d_params, self.world)
        self.d_optimizer.step()
        return terms

    def next_batch(self):
        x = self.sampler.batch(self.opts.batch).to(self.device)
        lam = sample_lambdas(self.opts.batch, self.model.gains.lambda_range, self.lambda_rng).to(self.device)
        return x, lam

    # --- the loop -----------------------------------------------------------------------------------------
    def _request_stop(self, signum, frame):
        self._stop = True

    def log(self, record):
        if self.rank != 0:
            return
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _should_stop(self, start):
        o = self.opts
        stop = self._stop or bool(o.max_steps and self.step >= o.max_steps)
        stop = stop or bool(o.max_minutes and time.time() - start > 60 * o.max_minutes)
        if self.world > 1:  # replicas stop together, or the next collective would hang
            flag = torch.tensor([float(stop)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def validate(self):
        results = self.validator(self.model, self.model.cfg.rate_presets)
        self.log({"step": self.step, "time": time.time(), "validation": results})
        if importlib.util.find_spec("matplotlib"):
            plot_curves(self.out / "log.jsonl", self.out / "curves.png")

    def run(self):
        o = self.opts
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._request_stop)  # finish the step, save, exit
        if self.validator and not self.resumed:
            self.validate()  # the starting point, so the curves show what the run changed
        start = last_save = time.time()
        window, window_start = [], time.time()
        tty = sys.stderr.isatty()
        while not self._should_stop(start):
            terms = self.train_step(*self.next_batch())
            self.step += 1
            window.append(terms)
            if not all(math.isfinite(v) for v in terms.values()):
                raise FloatingPointError(f"non-finite loss at step {self.step}: {terms}")
            if self.step % o.log_every == 0 and self.rank == 0:
                mean = {k: sum(t[k] for t in window) / len(window) for k in window[0]}
                mean["img_per_s"] = len(window) * o.batch / (time.time() - window_start)
                self.log({"step": self.step, "time": time.time(), **mean})
                line = f"step {self.step} " + " ".join(f"{k} {_short(v)}" for k, v in mean.items() if k != "img_per_s")
                line += f" {mean['img_per_s']:.2f} img/s"
                print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
                window, window_start = [], time.time()
            if self.validator and self.step % o.val_every == 0 and not o.discriminator_only:
                self.validate()
                window_start = time.time()  # validation time is not training throughput
            if self.rank == 0 and time.time() - last_save > 60 * o.checkpoint_minutes:
                self.save()
                last_save = time.time()
        self.save()
        if tty:
            print(file=sys.stderr)
        return self.step


def _short(value):
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
