"""Export a training state (or re-export a weights file) as compact shipped weights with coding tables."""
import torch

from ..model import build_model
from ..weights import load_weights, save_weights
from .loop import load_training_weights


def load_any(path):
    """A model from a training state.pt or a weights file."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(blob, dict) and "model" in blob and "config" in blob:
        model = build_model(blob["config"])
        load_training_weights(model, blob["model"])  # tables are rebuilt below
        return model.eval(), {"step": blob.get("step"), "stage": blob.get("options", {}).get("stage")}
    model, _, info = load_weights(path)
    return model, info


def export(src, dst, info=None):
    model, src_info = load_any(src)
    model.build_tables()
    return save_weights(model, dst, info={**src_info, **(info or {})})
