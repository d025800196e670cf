"""How strongly each stage-2 loss term pulls on the synthesis transform: the norm of each weighted term's
gradient w.r.t. g_s, on a few training batches, from a run's training state (docs/training.md, session 9).

    python benchmarks/gradient_balance.py RUN_DIR [--batches 3] [--weight mse=4356 ...]

The adversarial term is reported at weight 1, so its row divided by another term's row is the weight that
would make the two pull equally hard.
"""
import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from icisp_codec.train.losses import mse_per_sample
from icisp_codec.train.loop import Trainer, TrainOptions
from icisp_codec.train.perceptual import perceptual_and_style


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder holding state.pt (stage 2)")
    parser.add_argument("--data", default="runs/train-photos")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--weight", action="append", default=[], help="TERM=W, as icisp train --loss-weight")
    args = parser.parse_args()
    weights = {"mse": 4356.0, "perceptual": 50.0, "style": 2000.0}
    weights.update({k: float(v) for k, v in (w.split("=") for w in args.weight)})
    with tempfile.TemporaryDirectory() as scratch:  # the trainer resumes from (and may write to) its folder
        shutil.copy(Path(args.run) / "state.pt", scratch)
        trainer = Trainer(TrainOptions(out=scratch, data=[args.data], stage=2, resume=True, crop=128, batch=8,
                                       threads=1, bf16=False, loss_weights=dict(weights, adversarial=1.0)))
    objective = trainer.objective
    params = [p for name, p in trainer.model.named_parameters() if name.startswith("g_s.")]
    for batch in range(args.batches):
        x, lam = trainer.next_batch()
        out = trainer.model(x, lam)
        x_hat = out["x_hat"].float()
        with torch.no_grad():
            real_features = objective.features(x)
        perceptual, style = perceptual_and_style(objective.features(x_hat.clamp(0, 1)), real_features)
        terms = {
            "mse": weights["mse"] * mse_per_sample(x_hat, x).mean(),
            "perceptual": weights["perceptual"] * perceptual.mean(),
            "style": weights["style"] * style.mean(),
            "adversarial (weight 1)": objective._generator_hinge(x_hat.clamp(0, 1), out["y_bar"].detach(), x).mean(),
        }
        norms = []
        for name, term in terms.items():
            grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
            norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)).item()
            norms.append(f"{name} {norm:.1f}")
        print(f"batch {batch}: " + ", ".join(norms))


if __name__ == "__main__":
    main()
