"""Weights files: saving compactly (fp16), loading safely (weights_only), identifying by hash.

A weights file is a torch.save'd dict {"format", "config", "state_dict", "info"}. Convolution and linear
weights are stored as int8 with one float32 scale per output channel (a quarter of fp32, keeping the file a
few MB); other float tensors as fp16; integer tensors (the coding tables) as they are. Encoder and decoder
both run the dequantised weights, so storage precision never desynchronises them; its cost in rate and
PSNR is measured at export (docs/training.md). The file's id is the first 8 bytes of its SHA-256, which every
.icisp file records so a decoder never decodes with other weights than the encoder used.
"""
import hashlib
import io
from pathlib import Path

from .errors import ModelError

FORMAT = "icisp-weights-1"
INT8_SUFFIX, SCALE_SUFFIX = ":int8", ":scale"
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


FP16_SMALLEST_NORMAL, FP16_MAX = 2.0**-14, 65504.0


def _compact(name, tensor):
    import torch

    if not tensor.is_floating_point():
        return {name: tensor}
    if tensor.dim() < 2 or tensor.numel() < 1024:
        # fp16 unless a value would leave its range (e.g. the 1e-9 likelihood bound, which fp16 turns into 0)
        magnitude = tensor.abs()
        if bool(((magnitude > 0) & (magnitude < FP16_SMALLEST_NORMAL)).any() or (magnitude > FP16_MAX).any()):
            return {name: tensor.float()}
        return {name: tensor.half()}
    flat = tensor.float().reshape(tensor.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127
    q = (flat / scale[:, None]).round().clamp(-127, 127).to(torch.int8).reshape(tensor.shape)
    return {name + INT8_SUFFIX: q, name + SCALE_SUFFIX: scale}


def _expand(state):
    out = {}
    for k, v in state.items():
        if k.endswith(INT8_SUFFIX):
            base = k[: -len(INT8_SUFFIX)]
            scale = state[base + SCALE_SUFFIX]
            out[base] = (v.float().reshape(v.shape[0], -1) * scale[:, None]).reshape(v.shape)
        elif not k.endswith(SCALE_SUFFIX):
            out[k] = v.float() if v.is_floating_point() else v
    return out


def save_weights(model, path, info=None) -> bytes:
    """Write model (with its coding tables built) to path; returns the weights id."""
    import torch

    state = {}
    for k, v in model.state_dict().items():
        state.update(_compact(k, v.detach().cpu()))
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
    model.load_state_dict(_expand(blob["state_dict"]))
    return model.to(device).eval(), weights_id(data), blob.get("info", {})


def describe_shipped() -> list:
    """Name, config, id, rate range and size of every shipped weights file (loads each, on the CPU)."""
    rows = []
    for name, path in shipped_weights().items():
        model, wid, info = load_weights(path)
        lo, hi = model.gains.lambda_range
        rows.append({"name": name, "config": model.cfg.name, "id": wid.hex(), "lambda_min": lo, "lambda_max": hi,
                     "presets": list(model.cfg.rate_presets), "size_mb": path.stat().st_size / 1e6, "info": info})
    return rows
