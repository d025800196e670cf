"""`icisp` commands. Heavy imports (torch) happen inside the commands that need them, so `icisp info` and
`icisp --help` stay fast and torch-free."""
import json
import sys
import time
from pathlib import Path

import click

from .. import __version__
from ..errors import IcispError

PRESETS = {"low": 5.0, "medium": 2.5, "high": 1.5, "best": 1.0}  # the paper's four rate weights


def _fail(exc: IcispError, verbose: bool):
    if verbose:
        import traceback

        traceback.print_exc()
    click.echo(f"icisp: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _run(ctx, fn):
    try:
        return fn()
    except IcispError as exc:
        _fail(exc, ctx.obj["verbose"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="icisp")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx, verbose):
    """icisp: learned perceptual image codec (ICISP) for CPUs and GPUs."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def _lambda_option(f):
    f = click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                     help="Named rate: low=5, medium=2.5, high=1.5, best=1 (the paper's rate weights).")(f)
    return click.option("--lambda", "lam", type=float, default=None,
                        help="Rate weight λ in [1, 5]: larger means fewer bits. Default 2.5.")(f)


def _device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)(f)


def _load_codec(weights, device):
    from ..codec import Codec

    t = time.perf_counter()
    codec = Codec.load(weights, device)
    return codec, time.perf_counter() - t


@cli.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@_lambda_option
@_device_option
@click.option("--weights", default=None, help="Weights name (in weights/) or file. Default: lite.")
@click.option("--pad", "pad_mode", type=click.Choice(["replicate", "zero"]), default="replicate", show_default=True)
@click.option("-f", "--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_context
def encode(ctx, input, output, lam, preset, device, weights, pad_mode, force):
    """Encode an image file (PNG, JPEG, ...) to a .icisp file."""

    def go():
        from ..codec import encode_file

        if lam is not None and preset is not None:
            raise click.UsageError("--lambda and --preset are mutually exclusive")
        value = PRESETS[preset] if preset else (lam if lam is not None else 2.5)
        codec, load_s = _load_codec(weights, device)
        report = encode_file(codec, input, output, value, pad_mode=pad_mode, overwrite=force)
        click.echo(
            f"{input}: {report.width}x{report.height}, λ={report.lam:g}, {report.file_bytes} bytes, "
            f"{report.file_bpp:.4f} bpp (payload {report.payload_bpp:.4f}), encoded in {report.seconds:.2f} s "
            f"(model loading {load_s:.2f} s, {codec.device.type})",
            err=True,
        )

    _run(ctx, go)


@cli.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@_device_option
@click.option("--weights", default=None, help="Weights name or file; default: the shipped weights the file names.")
@click.option("--max-pixels", type=int, default=None, help="Refuse images larger than this (default 2^28).")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.pass_context
def decode(ctx, input, output, device, weights, max_pixels, force):
    """Decode a .icisp file to an image (format from OUTPUT's extension; PNG by default)."""

    def go():
        from ..codec import decode_file

        codec, load_s = _load_codec(weights, device)
        report = decode_file(codec, input, output, max_pixels=max_pixels, overwrite=force)
        click.echo(
            f"{input}: {report.width}x{report.height}, {report.file_bytes} bytes, {report.file_bpp:.4f} bpp, "
            f"decoded in {report.seconds:.2f} s (model loading {load_s:.2f} s, {codec.device.type})",
            err=True,
        )

    _run(ctx, go)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def info(ctx, file, as_json):
    """Show a .icisp file's header without loading any network."""

    def go():
        from ..bitstream import parse
        from ..errors import InputError

        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise InputError(f"{file}: {exc.strerror}") from None
        c = parse(data)
        d = c.describe()
        d["file_bytes"] = len(data)
        d["file_bpp"] = round(len(data) * 8 / (c.width * c.height), 6)
        if as_json:
            click.echo(json.dumps(d, indent=2))
        else:
            for k, v in d.items():
                click.echo(f"{k:18s} {v}")

    _run(ctx, go)


@cli.command()
@click.option("--config", type=click.Choice(["lite", "paper", "tiny"]), default="lite", show_default=True)
@click.option("--data", "data", multiple=True, type=click.Path(file_okay=False),
              help="Folder(s) of training images. Default: the prepared training photos.")
@click.option("--out", default="runs/lite", show_default=True, help="Output directory (state, weights, logs).")
@click.option("--stage", type=click.Choice(["1", "2"]), default="1", show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/state.pt if present.")
@click.option("--init", default="", help="Start from this weights file (fresh optimiser state).")
@click.option("--crop", type=int, default=256, show_default=True)
@click.option("--batch", type=int, default=8, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--bf16/--no-bf16", default=True, show_default=True, help="bf16 autocast for convs/linears.")
@click.option("--threads", type=int, default=0, help="Torch threads (0: all cores).")
@click.option("--max-steps", type=int, default=0)
@click.option("--max-minutes", type=float, default=0.0)
@click.option("--val", default="", help="Validation folder (centre crops at the rate presets).")
@click.option("--val-every", type=int, default=500, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True)
@click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--seed", type=int, default=0)
@click.option("--d-lr", type=float, default=1e-4, show_default=True, help="Discriminator learning rate (stage 2).")
@click.option("--semantic", type=click.Choice(["efficientnet-lite0", "dinov2"]), default="efficientnet-lite0",
              show_default=True, help="Frozen semantic encoder of the discriminator (stage 2).")
@click.option("--semantic-weights", default="", help="DINOv2 state-dict file (with --semantic dinov2).")
@click.pass_context
def train(ctx, **kw):
    """Train a model: stage 1 rate + MSE, stage 2 adds perceptual, style and adversarial terms; every λ in
    [1, 5] in one run. Resumable; runs under torchrun for several processes. See docs/training.md."""
    from ..train.loop import TrainOptions, Trainer
    from ..train.photos import prepare

    data = list(kw.pop("data"))
    if not data:  # the fixed training photos of the shipped weights, prepared once beside the run
        default = Path(kw["out"]).parent / "train-photos"
        prepare(default)
        data = [str(default)]
    kw["stage"] = int(kw["stage"])
    trainer = Trainer(TrainOptions(data=data, **kw))
    click.echo(f"training {trainer.model.cfg.name} from step {trainer.step} -> {trainer.out}", err=True)
    steps = trainer.run()
    click.echo(f"stopped at step {steps}; weights in {trainer.out / 'weights.pt'}", err=True)


def main():
    cli(obj={})
