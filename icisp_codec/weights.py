"""Weights files: saving compactly (fp16), loading safely (weights_only), identifying by hash.

A weights file is a torch.save'd dict {"format", "config", "state_dict", "info"}; float tensors are stored
in fp16 and integer tensors (the coding tables) as they are. Its id is the first 8 bytes of its SHA-256,
which every .icisp file records so a decoder never decodes with other weights than the encoder used.
"""
import hashlib
import io
from pathlib import Path

from .errors import ModelError

FORMAT = "icisp-weights-1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "lite"


def shipped_weights() -> dict:
    """{name: path} of the weights files shipped in weights/."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.pt"))}


def resolve(name_or_path=None) -> Path:
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path)
    if path.suffix == ".pt" or path.exists():
        if not path.exists():
            raise ModelError(f"weights file {path} not found")
        return path
    shipped = shipped_weights()
    if str(name_or_path) not in shipped:
        raise ModelError(f"no shipped weights named {name_or_path!r} (have: {', '.join(shipped) or 'none'})")
    return shipped[str(name_or_path)]


def weights_id(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:8]


def save_weights(model, path, info=None) -> bytes:
    """Write model (with its coding tables built) to path; returns the weights id."""
    import torch

    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": model.cfg.to_dict(), "state_dict": state, "info": info or {}}, buffer)
    data = buffer.getvalue()
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return weights_id(data)


def load_weights(name_or_path=None, device="cpu"):
    """-> (model in eval mode on device, weights id, info dict)."""
    import torch

    from .model import build_model

    path = resolve(name_or_path)
    data = path.read_bytes()
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a loadable weights file ({exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelError(f"{path}: not an icisp weights file")
    model = build_model(blob["config"])
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
    model.load_state_dict(state)
    return model.to(device).eval(), weights_id(data), blob.get("info", {})
