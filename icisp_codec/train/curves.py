"""The training curves as a PNG: training loss terms (smoothed) and validation metrics per rate preset,
against the step, read back from <out>/log.jsonl (so any run can be re-plotted: `icisp train-plot`), and
the validation curves of several runs side by side (`icisp train-plot RUN RUN ...`)."""
import json
from pathlib import Path

TRAIN_TERMS = ("loss", "bpp", "psnr", "perceptual", "g_adv", "d_loss")
VALIDATION_METRICS = ("bpp", "psnr", "ms_ssim", "lpips_hed")


def read_log(path):
    train, validation = [], []
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        (validation if "validation" in record else train).append(record)
    return train, validation


def _smooth(values, width):
    out, acc = [], []
    for v in values:
        acc = (acc + [v])[-width:]
        out.append(sum(acc) / len(acc))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(log_path, png_path, smooth=20):
    plt = _pyplot()
    train, validation = read_log(log_path)
    train_terms = [t for t in TRAIN_TERMS if any(t in r for r in train)]
    val_metrics = [m for m in VALIDATION_METRICS if any(m in v for r in validation for v in r["validation"].values())]
    panels = [("train", t) for t in train_terms] + [("validation", m) for m in val_metrics]
    columns = 3
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, (kind, name) in zip(axes.flat, panels):
        if kind == "train":
            points = [(r["step"], r[name]) for r in train if name in r]
            ax.plot([s for s, _ in points], _smooth([v for _, v in points], smooth), lw=1)
        else:
            for preset in validation[-1]["validation"]:
                points = [(r["step"], r["validation"][preset][name]) for r in validation
                          if name in r["validation"].get(preset, {})]
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", lw=1, label=f"λ={preset}")
            ax.legend(fontsize=7)
        ax.set_title(f"{kind}: {name}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def plot_runs(log_paths, png_path, presets=("1", "5")):
    """Validation metrics of several runs against their steps: one colour per run, one line style per preset."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(VALIDATION_METRICS), figsize=(4.2 * len(VALIDATION_METRICS), 3.4))
    styles = ["-", "--", ":", "-."]
    for colour, log_path in enumerate(log_paths):
        _, validation = read_log(log_path)
        label = Path(log_path).parent.name
        for ax, metric in zip(axes, VALIDATION_METRICS):
            for style, preset in zip(styles, presets):
                points = [(r["step"], r["validation"][preset][metric]) for r in validation
                          if metric in r["validation"].get(preset, {})]
                ax.plot([s for s, _ in points], [v for _, v in points], style, color=f"C{colour}", marker=".",
                        lw=1, label=f"{label} λ={preset}")
    for ax, metric in zip(axes, VALIDATION_METRICS):
        ax.set_title(f"validation: {metric}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
