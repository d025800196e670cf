"""`icisp models`, `setup`, `convert-weights` and `export`: the weights and the machine a codec runs with."""
import json
from pathlib import Path

import click

from .app import cli, handled
from .options import positive_finite


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
@click.option("--lambda", "lam", type=float, default=None, callback=positive_finite,
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
