"""BD-rate tables (Markdown) and R-D plots (PNG) from results documents."""
import math
from pathlib import Path

from .bdrate import bd_rate, curve_points

METRICS = {"psnr": ("PSNR (dB)", False), "ms_ssim": ("MS-SSIM", False), "lpips_hed": ("LPIPS-HED", True)}


def bd_table(test_doc, anchor_docs, min_bpp=None, max_bpp=None):
    """Markdown table: BD-rate of test against each anchor for each metric, with the quality range used."""
    lines = [f"BD-rate of {test_doc['codec']} against each codec (negative = fewer bits for the same quality; "
             f"{'bpp range ' + str(min_bpp) + '-' + str(max_bpp) if min_bpp or max_bpp else 'all points'}):", "",
             "| anchor | " + " | ".join(label for label, _ in METRICS.values()) + " |",
             "|---|" + "---|" * len(METRICS)]
    for anchor in anchor_docs:
        cells = []
        for metric, (_, lower) in METRICS.items():
            t = curve_points(test_doc, metric, max_bpp, min_bpp)
            a = curve_points(anchor, metric, max_bpp, min_bpp)
            if len(t) < 2 or len(a) < 2:
                cells.append("n/a")
                continue
            value, q_range = bd_rate([r for r, _ in a], [q for _, q in a], [r for r, _ in t], [q for _, q in t], lower)
            if math.isnan(value):
                cells.append("no overlap")
            else:
                cells.append(f"{100 * value:+.1f}% ({q_range[0]:.3g}–{q_range[1]:.3g})")
        lines.append(f"| {anchor['codec']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(docs, out_png, max_bpp=1.0):
    from .optional import require

    require("matplotlib", "plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, (metric, (label, lower)) in zip(axes, METRICS.items()):
        for doc in docs:
            pts = curve_points(doc, metric, max_bpp=max_bpp)
            if pts:
                ax.plot([r for r, _ in pts], [q for _, q in pts], marker="o", ms=3, label=doc["codec"])
        ax.set_xlabel("bpp (whole file)")
        ax.set_ylabel(label + (" (lower is better)" if lower else ""))
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
