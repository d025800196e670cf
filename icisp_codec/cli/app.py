"""The `icisp` command group and what every command shares: one-line errors with the documented exit codes
(README, "Exit codes"; -v adds the traceback), --version, quiet/verbose output, the codecs a command runs and
JSON output. Heavy imports (torch) happen inside the functions that need them, so `icisp info`, `icisp models`,
`--version` and `--help` stay fast and torch-free."""
import functools
import json
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import IcispError


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


def say(ctx, message):
    if not ctx.find_root().obj.get("quiet"):
        click.echo(message, err=True)


def report_lines(ctx, report):
    for notice in report.notices:
        say(ctx, f"icisp: note: {notice}")
    for warning in report.warnings:
        click.echo(f"icisp: warning: {warning}", err=True)


def codecs_for(ctx, weights, device, **options):
    from ..selection import Codecs

    threads = ctx.find_root().obj.get("threads")
    if threads:
        import torch

        torch.set_num_threads(threads)
    return Codecs(weights, device, **options)


def check_bf16(ctx, codec):
    if codec.emulated_bf16:
        say(ctx, "icisp: note: --bf16 on a device without native bf16 is emulated and much slower than fp32 "
                 "(--no-bf16 is the default here)")


def write_json(doc, path):
    text = json.dumps(doc, indent=1)
    if path == "-":
        click.echo(text)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
