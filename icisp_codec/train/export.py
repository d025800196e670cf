"""Export a training state (or re-export a weights file) as compact weights with coding tables, and, from a
stage-2 state, the discriminator beside them (weights.discriminator_path), so that training can continue from
the exported weights with a discriminator that already sees."""
from pathlib import Path

import torch

from ..errors import ModelError
from ..model import build_model
from ..weights import discriminator_path, load_weights, save_tensors
from .loop import load_training_weights, run_info, save_export


def load_any(path):
    """(model, info, discriminator state or None) from a weights file or a training state.pt."""
    try:
        model, _, info = load_weights(Path(path))
        return model, info, None
    except ModelError:
        pass  # not a weights file: a training state (which holds more than tensors, so weights_only=False)
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if not (isinstance(blob, dict) and "model" in blob and "config" in blob):
        raise ModelError(f"{path}: neither a weights file nor a training state")
    model = build_model(blob["config"])
    load_training_weights(model, blob["model"])  # tables are rebuilt by export
    options = blob.get("options", {})
    info = run_info(blob.get("step"), options)
    if "discriminator" not in blob:
        return model.eval(), info, None
    return model.eval(), info, {"state": blob["discriminator"], "semantic": options.get("semantic")}


def export(src, dst, info=None):
    """-> the weights id. Also writes the discriminator when src is a stage-2 training state."""
    model, src_info, discriminator = load_any(src)
    info = {**src_info, **(info or {})}
    if discriminator is not None:
        save_tensors(discriminator["state"], discriminator_path(dst),
                     {"kind": "discriminator", "semantic": discriminator["semantic"], "info": info})
    return save_export(model, dst, info)
