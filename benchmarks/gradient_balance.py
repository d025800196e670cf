"""How strongly each stage-2 loss term pulls on the synthesis transform: the norm of each weighted term's
gradient w.r.t. g_s, on a few training batches, from a run's training state and with the run's own loss
weights (docs/training.md, "The adversarial weight").

    python benchmarks/gradient_balance.py RUN_DIR [--batches 3]

The adversarial term is reported at weight 1, so its norm divided by another term's is the weight that would
make the two pull equally hard.
"""
import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from icisp_codec.train.loop import Trainer, TrainOptions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder holding state.pt (stage 2)")
    parser.add_argument("--data", help="training photos (default: the run's own)")
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    state = Path(args.run) / "state.pt"
    run_options = torch.load(state, map_location="cpu", weights_only=False)["options"]
    weights = dict(run_options["loss_weights"], adversarial=1.0)
    with tempfile.TemporaryDirectory() as scratch:  # the trainer resumes from (and may write to) its folder
        shutil.copy(state, scratch)
        data = [args.data] if args.data else run_options["data"]
        trainer = Trainer(TrainOptions(**dict(run_options, out=scratch, data=data, resume=True, threads=1,
                                              bf16=False, val="", loss_weights=weights)))
    params = [p for name, p in trainer.model.named_parameters() if name.startswith("g_s.")]
    print("loss weights:", weights)
    for batch in range(args.batches):
        x, lam = trainer.next_batch()
        terms, _ = trainer.objective.weighted_terms(trainer.forward(x, lam), x, trainer.rate_weight(lam))
        norms = []
        for name, term in terms.items():
            if name == "rate":  # the rate does not depend on g_s
                continue
            grads = torch.autograd.grad(term.mean(), params, retain_graph=True, allow_unused=True)
            norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)).item()
            norms.append(f"{name} {norm:.1f}")
        print(f"batch {batch}: " + ", ".join(norms))


if __name__ == "__main__":
    main()
