"""`icisp train` and `train-plot` (the work is in icisp_codec.train)."""
from pathlib import Path

import click

from .app import cli, handled


def _parse_loss_weights(ctx, param, values):
    from ..train.objectives import STAGE2_WEIGHTS

    weights = {}
    for item in values:
        term, sep, value = item.partition("=")
        if not sep or term not in STAGE2_WEIGHTS:
            raise click.BadParameter(f"{item!r}: expected TERM=W with TERM one of {', '.join(STAGE2_WEIGHTS)}")
        try:
            weights[term] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number") from None
    return weights


@cli.command(name="train-plot")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", "png", required=True, help="PNG to write.")
@handled
def train_plot(runs, png):
    """Plot training curves from RUNS (run folders or their log.jsonl): one run, all its curves; several,
    their validation metrics side by side."""
    from ..train.curves import plot_curves, plot_runs

    logs = [Path(r) / "log.jsonl" if Path(r).is_dir() else Path(r) for r in runs]
    for log in logs:
        if not log.is_file():
            raise click.BadParameter(f"{log} does not exist", param_hint="RUNS")
    if len(logs) == 1:
        plot_curves(logs[0], png)
    else:
        plot_runs(logs, png)
    click.echo(f"curves written to {png}", err=True)


@cli.command()
@click.option("--config", type=click.Choice(["lite", "paper", "tiny"]), default="lite", show_default=True,
              help="Model configuration (docs/model.md, docs/departures.md).")
@click.option("--data", "data", multiple=True, type=click.Path(file_okay=False),
              help="Folder(s) of training images. Default: the prepared training photos.")
@click.option("--out", default="runs/lite", show_default=True, help="Output directory (state, weights, logs).")
@click.option("--stage", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="1: rate + MSE; 2: adds perceptual, style and adversarial terms.")
@click.option("--resume", is_flag=True, help="Continue from OUT/state.pt if present.")
@click.option("--init", default="", help="Start from this weights file (fresh optimiser state).")
@click.option("--crop", type=int, default=256, show_default=True, help="Side of the random training crops.")
@click.option("--batch", type=int, default=8, show_default=True, help="Crops per step.")
@click.option("--lr", type=float, default=1e-4, show_default=True,
              help="Codec learning rate (also on --resume: a schedule is a sequence of resumed runs).")
@click.option("--bf16/--no-bf16", default=None,
              help="bf16 autocast for convs/linears. Default: on where the hardware has native bf16 "
                   "(AVX-512 BF16/AMX CPUs, CUDA); emulated bf16 on AVX2-only CPUs is far slower than fp32.")
@click.option("--threads", type=int, default=0, help="Torch threads (0: all cores).")
@click.option("--max-steps", type=int, default=0, help="Stop at this step (0: no limit).")
@click.option("--max-minutes", type=float, default=0.0, help="Stop after this many minutes (0: no limit).")
@click.option("--val", default="", help="Validation folder (centre crops at the rate presets).")
@click.option("--val-every", type=int, default=500, show_default=True, help="Steps between validations.")
@click.option("--log-every", type=int, default=10, show_default=True, help="Steps between log lines.")
@click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True,
              help="Minutes between saves of state.pt and weights.pt (also saved on SIGINT/SIGTERM).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (several GPUs: under torchrun).")
@click.option("--seed", type=int, default=0, help="Seed of the initial weights, crops and rate weights.")
@click.option("--d-lr", type=float, default=1e-4, show_default=True, help="Discriminator learning rate (stage 2).")
@click.option("--semantic", type=click.Choice(["efficientnet-lite0", "dinov2"]), default="efficientnet-lite0",
              show_default=True, help="Frozen semantic encoder of the discriminator (stage 2).")
@click.option("--semantic-weights", default="", help="DINOv2 state-dict file (with --semantic dinov2).")
@click.option("--loss-weight", "loss_weights", multiple=True, callback=_parse_loss_weights, metavar="TERM=W",
              help="Stage 2: override one term's weight (mse, perceptual, style, adversarial; the paper's "
                   "26, 5, 2000, 0.8), e.g. --loss-weight adversarial=0 to warm the discriminator up. Repeatable.")
@click.option("--rate-exponent", type=float, default=1.0, show_default=True,
              help="Weigh the rate by λ^K instead of λ (1: the paper). K > 1 spreads the presets' rates further "
                   "apart; see docs/training.md.")
@click.option("--rate-scale", type=float, default=1.0, show_default=True,
              help="Weigh the rate by S·λ^K: with a smaller K, S moves the λ whose weight stays put (S = "
                   "2.5^(3-K) keeps λ 2.5's weight under λ^3) and narrows the presets' rates from both ends.")
@click.option("--discriminator-only", is_flag=True,
              help="Stage 2: freeze the codec and train only the discriminator (its warm-up after --init; "
                   "then --resume without this flag). About 3x faster per step than a full one.")
@click.option("--encoder-only", is_flag=True,
              help="Train only the analysis transforms (g_a, h_a) against the frozen decoder, entropy model "
                   "and gains, counting the bits of the rounded symbols coding sends: the decoder's weights do not "
                   "change. Start it with --init and a new --out.")
@click.option("--lambda-modulation", is_flag=True,
              help="Give the transforms λ-dependent channel scales after every stage (identity at first, so "
                   "--init weights without them start where they were): the analysis and synthesis then "
                   "depend on λ, not only the latent's gains. Recorded in the exported weights.")
@handled
def train(**kw):
    """Train a model: stage 1 rate + MSE, stage 2 adds perceptual, style and adversarial terms; every λ in
    [1, 5] in one run. Resumable; runs under torchrun for several processes. See docs/training.md."""
    from ..train.loop import Trainer, TrainOptions
    from ..train.photos import prepare

    data = list(kw.pop("data"))
    if not data:  # the fixed training photos of the shipped weights, prepared once beside the run
        default = Path(kw["out"]).parent / "train-photos"
        prepare(default)
        data = [str(default)]
    kw["stage"] = int(kw["stage"])
    try:
        options = TrainOptions(data=data, **kw)
    except ValueError as error:  # the options' own consistency checks, reported as a usage error
        raise click.UsageError(str(error)) from None
    trainer = Trainer(options)
    click.echo(f"training {trainer.model.cfg.name} from step {trainer.step} -> {trainer.out}", err=True)
    steps = trainer.run()
    click.echo(f"stopped at step {steps}; weights in {trainer.out / 'weights.pt'}", err=True)
