"""`icisp encode`, `decode` and `info`: single files, stdin/stdout and folders (files.py, batch.py and
rate_control.py do the work)."""
import json
import sys
from pathlib import Path

import click

from ..model.config import DEFAULT_LAMBDA, PRESETS
from .app import check_bf16, cli, codecs_for, handled, report_lines, say, write_json
from .options import (
    batch_options,
    bf16_option,
    device_option,
    effort_option,
    output_format,
    output_options,
    positive_finite,
    rate_options,
    weights_option,
)


def _one_file_done(ctx, codecs, input, report, rate, done):
    """The notices, warnings and the one summary line of a single-file encode or decode."""
    codec = codecs.last
    check_bf16(ctx, codec)
    report_lines(ctx, report)
    name = "<stdin>" if input == "-" else input
    arithmetic = codec.device.type + (", bf16" if codec.bf16 else "")
    say(ctx, f"{name}: {report.width}x{report.height}, {rate}{report.file_bytes} bytes, {report.file_bpp:.4f} bpp"
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
        write_json(summary, json_path)
    for failure in summary["failed"]:
        click.echo(f"icisp: error: {failure['error']}", err=True)
    for result in summary["results"]:
        for warning in result.get("warnings", []):
            click.echo(f"icisp: warning: {result['file']}: {warning}", err=True)
    bpp = f", mean {summary['mean_bpp']:.4f} bpp, total {summary['total_bpp']:.4f} bpp" if summary["succeeded"] else ""
    skipped = f", {summary['skipped']} skipped (output exists)" if summary["skipped"] else ""
    say(ctx, f"{summary['succeeded']}/{summary['files']} files{skipped}, {summary['total_bytes']} bytes{bpp}, "
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
@output_options
@rate_options
@click.option("--target-bpp", type=float, default=None, callback=positive_finite,
              help="Find λ for this file bpp (whole file, metadata included).")
@click.option("--target-size", type=click.IntRange(min=1), default=None,
              help="Find λ for this file size in bytes.")
@click.option("--strict", is_flag=True, help="With a target: never exceed it (an error if it cannot be met).")
@effort_option
@device_option
@weights_option
@click.option("--pad", "pad_mode", type=click.Choice(["replicate", "zero"]), default="replicate", show_default=True,
              help="How the image is padded to multiples of 64 px.")
@click.option("--strip", is_flag=True, help="Drop ICC profile and EXIF instead of keeping them in the file.")
@click.option("--exact-icc", is_flag=True,
              help="Keep a colour profile's exact bytes (compressed) even when it is equivalent to sRGB, which "
                   "is otherwise stored as a one-byte tag and decoded as a standard sRGB profile.")
@batch_options
@bf16_option
@click.pass_context
@handled
def encode(ctx, input, output, out_option, lam, preset, quality, target_bpp, target_size, strict, effort, device,
           weights, pad_mode, strip, exact_icc, jobs, shard, skip_existing, json_path, force, bf16):
    """Encode an image (PNG, JPEG, WebP, TIFF, PPM...; '-' for stdin) or a folder of them to .icisp."""
    from .files import encode_file

    if sum(v is not None for v in (lam, preset, quality, target_bpp, target_size)) > 1:
        raise click.UsageError("--lambda, --preset, --quality, --target-bpp and --target-size are mutually exclusive")
    codecs = codecs_for(ctx, weights, device, bf16=bf16)
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
@output_options
@device_option
@weights_option
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images larger than this once padded to multiples of 64 (default 2^28).")
@click.option("--fast-synthesis", is_flag=True,
              help="Run the synthesis on all threads: faster, but pixels may then differ by rounding between "
                   "thread counts (by default the image is bit-identical whatever --threads says).")
@click.option("--strip", is_flag=True, help="Do not restore the ICC profile and EXIF stored in the file.")
@click.option("--format", "fmt", default=None, callback=output_format,
              help="Output format (PNG, TIFF, WEBP, ...); default from the extension.")
@batch_options
@bf16_option
@click.pass_context
@handled
def decode(ctx, input, output, out_option, device, weights, max_pixels, fast_synthesis, strip, fmt, jobs, shard,
           skip_existing, json_path, force, bf16):
    """Decode a .icisp file ('-' for stdin) or a folder of them to images (PNG by default)."""
    from .files import decode_file

    codecs = codecs_for(ctx, weights, device, bf16=bf16, **({"synthesis_threads": None} if fast_synthesis else {}))
    options = {"max_pixels": max_pixels, "keep_metadata": not strip, "overwrite": force, "format": fmt}
    if input != "-" and Path(input).is_dir():
        return _batch(ctx, input, output or out_option, True, decode_file, options, codecs, jobs, shard,
                      skip_existing, json_path)
    report = decode_file(codecs, input, _output_for(input, output, out_option, ".png"), **options)
    _one_file_done(ctx, codecs, input, report, "", ", decoded")


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
