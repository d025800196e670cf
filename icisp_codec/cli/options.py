"""Option definitions for the commands (several share them) and the checks that make a bad value a usage error
(exit 2) before any work."""
import math

import click

from ..model.config import DEFAULT_EFFORT, DEFAULT_LAMBDA, EFFORTS, PRESETS


def positive_finite(ctx, param, value):
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a positive number")
    return value


def output_format(ctx, param, value):
    if value is None:
        return None
    from PIL import Image

    Image.init()
    if value.upper() not in Image.SAVE:
        raise click.BadParameter(f"{value!r} is not a format Pillow can write (e.g. PNG, TIFF, WEBP, JPEG)")
    return value.upper()


def rate_options(f):
    f = click.option("--quality", type=click.FloatRange(0, 100), default=None,
                     help="Quality 0-100 (higher: better, more bytes), as cjxl/avifenc/cwebp: mapped "
                          "monotonically onto the model's λ range (100 = the smallest λ).")(f)
    f = click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                     help="Named rate: " + ", ".join(f"{k}={v:g}" for k, v in PRESETS.items())
                          + " (the paper's rate weights).")(f)
    return click.option("--lambda", "lam", type=float, default=None, callback=positive_finite,
                        help=f"Rate weight λ (larger: fewer bits), within the model's range ([1, 5] for the "
                             f"shipped weights). Default {DEFAULT_LAMBDA:g}.")(f)


def effort_option(f):
    return click.option(
        "-e", "--effort", type=click.IntRange(1, max(EFFORTS)), default=DEFAULT_EFFORT, show_default=True,
        help="Encoder effort: above 1 the encoder searches for latents that code the same image in fewer bits "
             "(same decoder), for about 8x / 15x / 28x the encode time at levels 2 / 3 / 4; docs/effort.md says "
             "what each level saves.")(f)


def device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                        help="Where the networks run.")(f)


def weights_option(f):
    return click.option("--weights", default=None,
                        help="Weights: a name (shipped or installed, see `icisp models`; a configuration name "
                             "such as 'paper' means all its installed fixed-rate models) or a path (it "
                             "contains '/' or ends in .pt). Encode default: lite; decode default: the "
                             "weights the file was made with.")(f)


def bf16_option(f):
    return click.option(
        "--bf16/--no-bf16", default=None,
        help="Run the analysis/synthesis transforms in bf16. Default: on where the device computes bf16 "
             "natively (AVX-512 BF16, AMX, CUDA), off where it would be emulated (AVX2: far slower). The "
             "symbols' probabilities stay exact, so files stay readable by any decoder; pixels differ by "
             "rounding.")(f)


def batch_options(f):
    f = click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Parallel processes for a folder (each with CPU threads / jobs threads).")(f)
    f = click.option("--shard", default=None, help="I/N: code only a deterministic 1/N of a folder's files.")(f)
    f = click.option("--skip-existing", is_flag=True, help="In a folder, skip files whose output exists.")(f)
    return click.option("--json", "json_path", default=None, help="Write a JSON summary (folders) here.")(f)


def output_options(f):
    f = click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist (never the input).")(f)
    return click.option("-o", "--out", "out_option", default=None,
                        help="Output file or, for a folder INPUT, output folder.")(f)
