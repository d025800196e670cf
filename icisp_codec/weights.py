"""Weights files: saving compactly, loading safely, finding them by name, by rate or by id.

A weights file (format 2) is a zip archive (stored, not compressed) of two members:

- `meta.json`: format, configuration, λ range, training info, and the SHA-256 of `tensors.pt`. It is read
  with the standard library alone, so listing weights (`icisp models`) needs no torch.
- `tensors.pt`: the state dict, torch.save'd and read back with `torch.load(weights_only=True)`. Stored
  `compact` (the shipped weights): convolution and linear weights int8 with one float32 scale per output
  channel (a quarter of fp32), other float tensors fp16 unless a value would leave fp16's range; or
  `exact` (converted models, training checkpoints): float32 as trained. Integer tensors (the coding tables)
  as they are. Encoder and decoder both run the stored weights, so storage never desynchronises them.

Loading checks the digest (a flipped byte is refused, never given a new id), the configuration's fields and
sizes (bounded, so a crafted configuration cannot make the loader allocate gigabytes), and every tensor's
name and shape against the model the configuration builds. Format-1 files (a bare torch.save'd dict, no
digest) still load.

The weights id is the first 8 bytes of the file's SHA-256; every .icisp file records it, and a file is only
decoded with the weights it was made with.

Where weights are found. A `--weights` value containing a path separator or ending in `.pt` is a path;
anything else is a name: the shipped weights (`weights/` beside the package) and the installed ones (the
per-user weights folder, or $ICISP_WEIGHTS_DIR) by file name without `.pt`, or, for a configuration name
such as `paper`, every installed model of that configuration (the authors' fixed-rate models, one per λ).
"""
import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

FORMAT = "icisp-weights-2"
LEGACY_FORMAT = "icisp-weights-1"
INT8_SUFFIX, SCALE_SUFFIX = ":int8", ":scale"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
ENV_WEIGHTS_DIR = "ICISP_WEIGHTS_DIR"
DEFAULT_MODEL = "lite"
META, TENSORS = "meta.json", "tensors.pt"


def installed_dir() -> Path:
    """The per-user folder that converted and downloaded weights are installed into."""
    if os.environ.get(ENV_WEIGHTS_DIR):
        return Path(os.environ[ENV_WEIGHTS_DIR])
    import platformdirs

    return Path(platformdirs.user_data_dir("icisp")) / "weights"


def discriminator_path(weights_path) -> Path:
    """Where the discriminator trained beside a codec's weights is kept: it lets stage-2 training continue
    from the weights without first re-training a blind discriminator."""
    weights_path = Path(weights_path)
    return weights_path.with_name(f"{weights_path.stem}-discriminator.pt")


def weights_id(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:8]


@dataclass
class WeightsFile:
    """A weights file as listed: where it is and what its metadata says (read without torch)."""
    name: str
    path: Path
    origin: str  # "shipped", "installed" or "path"
    meta: dict

    @property
    def config(self):
        return self.meta["config"]["name"]

    @property
    def lambda_range(self):
        presets = self.meta["config"]["rate_presets"]
        return min(presets), max(presets)

    @property
    def id(self) -> bytes:
        return weights_id(self.path.read_bytes())


def read_meta(path) -> dict:
    """The metadata of a weights file: read without torch from a format-2 file, through torch.load from a
    format-1 file. ModelError when it is neither."""
    try:
        with zipfile.ZipFile(path) as archive:
            if META not in archive.namelist():
                return _legacy_meta(path)
            meta = json.loads(archive.read(META))
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: not an icisp weights file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not an icisp weights file (format {meta.get('format')!r})")
    return meta


def _legacy_meta(path):
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on files that are not its own
        raise ModelError(f"{path}: not an icisp weights file ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != LEGACY_FORMAT:
        raise ModelError(f"{path}: not an icisp weights file")
    return {"format": LEGACY_FORMAT, "config": blob["config"], "info": blob.get("info", {})}


def _entries(folder, origin):
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.pt")):
        try:
            meta = read_meta(path)
        except ModelError:
            continue  # not weights: never chosen by name
        if isinstance(meta.get("config"), dict):  # (a discriminator beside its codec has none)
            out.append(WeightsFile(path.stem, path, origin, meta))
    return out


def catalog() -> list:
    """Every shipped and installed weights file, shipped first."""
    return _entries(WEIGHTS_DIR, "shipped") + _entries(installed_dir(), "installed")


def is_path(name_or_path) -> bool:
    text = str(name_or_path)
    return os.sep in text or "/" in text or text.endswith(".pt")


def candidates(name_or_path=None) -> list:
    """The weights a --weights value means: one file for a path or a file name, several for a
    configuration name (fixed-rate models); ModelError when none."""
    name_or_path = name_or_path or DEFAULT_MODEL
    if is_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ModelError(f"weights file {path} not found" if not path.exists() else f"{path} is not a file")
        meta = read_meta(path)
        if not isinstance(meta.get("config"), dict):
            raise ModelError(f"{path}: not a codec's weights (no model configuration)")
        return [WeightsFile(path.stem, path, "path", meta)]
    entries = catalog()
    exact = [e for e in entries if e.name == name_or_path]
    if exact:
        return exact[:1]
    family = [e for e in entries if e.config == name_or_path]
    if family:
        return sorted(family, key=lambda e: e.lambda_range)
    known = sorted({e.name for e in entries} | {e.config for e in entries})
    raise ModelError(f"no weights named {name_or_path!r} (have: {', '.join(known) or 'none'}; a path needs a "
                     f"'/' or the .pt suffix)")


def resolve(name_or_path=None) -> Path:
    """The one weights file a name or path means (a variable-rate model, or one fixed-rate model)."""
    found = candidates(name_or_path)
    if len(found) > 1:
        rates = ", ".join(f"{e.name} (λ={e.lambda_range[0]:g})" for e in found)
        raise ModelError(f"{name_or_path!r} names several models: {rates}; choose one, or give --lambda")
    return found[0].path


def find_by_id(wid: bytes):
    """The shipped or installed weights file with this id, or None."""
    for entry in catalog():
        if entry.id == wid:
            return entry.path
    return None


# --- compact storage --------------------------------------------------------------------------------------
FP16_SMALLEST_NORMAL, FP16_MAX = 2.0**-14, 65504.0


def _compact(name, tensor, precision="compact"):
    import torch

    if not tensor.is_floating_point():
        return {name: tensor}
    if precision == "exact":
        return {name: tensor.float()}
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
            scale = state.get(base + SCALE_SUFFIX)
            if scale is None or scale.shape != v.shape[:1]:
                raise ModelError(f"int8 tensor {base} has no matching scale")
            out[base] = (v.float().reshape(v.shape[0], -1) * scale.float()[:, None]).reshape(v.shape)
        elif not k.endswith(SCALE_SUFFIX):
            out[k] = v.float() if v.is_floating_point() else v
    return out


PRECISIONS = ("compact", "exact")


def save_tensors(state, path, meta, precision="compact") -> bytes:
    """Write a state dict and its metadata as a format-2 file (see the module docstring), atomically;
    returns the file's id."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    stored = {}
    for k, v in state.items():
        stored.update(_compact(k, v.detach().cpu(), precision))
    tensors = io.BytesIO()
    torch.save(stored, tensors)
    tensors = tensors.getvalue()
    meta = {"format": FORMAT, **meta, "precision": precision, "sha256": hashlib.sha256(tensors).hexdigest()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in ((META, json.dumps(meta, indent=1).encode()), (TENSORS, tensors)):
            member = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same bytes for the same weights
            archive.writestr(member, data)
    data = buffer.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return weights_id(data)


def load_tensors(path):
    """(state dict as float32/integer tensors, metadata) of a format-2 file; ModelError when it is not one
    or its tensors fail their digest."""
    import torch

    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a format-2 icisp tensor file")
    try:
        with zipfile.ZipFile(path) as archive:
            tensors = archive.read(TENSORS)
        if hashlib.sha256(tensors).hexdigest() != meta.get("sha256"):
            raise ModelError(f"{path}: tensor data fails its digest (the file is corrupt)")
        state = torch.load(io.BytesIO(tensors), map_location="cpu", weights_only=True)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.load and zipfile raise many types on damaged files
        raise ModelError(f"{path}: not a loadable tensor file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not an icisp weights file (no tensor dictionary)")
    return _expand(state), meta


def save_weights(model, path, info=None, precision="compact") -> bytes:
    """Write model (with its coding tables built) to path, atomically; returns the weights id. precision:
    "compact" (int8 convolution/linear weights, fp16 elsewhere) or "exact" (float32)."""
    return save_tensors(model.state_dict(), path, {"config": model.cfg.to_dict(), "info": info or {}}, precision)


# --- loading ---------------------------------------------------------------------------------------------
# Bounds on a configuration's sizes: far above any real model (`paper`: N=64, M=320), low enough that the
# largest model they allow builds in about 2 GB (334 M parameters), so a crafted configuration cannot make
# the loader allocate more before its tensors are checked.
_SIZE_LIMITS = {"N": 256, "M": 640, "z_channels": 512, "hyper_width": 512, "num_slices": 16,
                "max_support_slices": 16, "d_state": 64}
_HIDDEN_LIMIT = 512


def _config(raw, path):
    from .model.config import get_config

    try:
        cfg = get_config(raw)
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: broken model configuration ({exc})") from None
    for key, limit in _SIZE_LIMITS.items():
        value = getattr(cfg, key)
        if not isinstance(value, int) or not 0 < value <= limit:
            raise ModelError(f"{path}: configuration {key}={value!r} is out of range (1..{limit})")
    if len(cfg.slice_hidden) != 2 or not all(isinstance(h, int) and 0 < h <= _HIDDEN_LIMIT for h in cfg.slice_hidden):
        raise ModelError(f"{path}: configuration slice_hidden={cfg.slice_hidden!r} is out of range")
    presets = cfg.rate_presets
    if not presets or not all(isinstance(p, (int, float)) and math.isfinite(p) and p > 0 for p in presets):
        raise ModelError(f"{path}: configuration has no valid rate presets ({presets!r})")
    return cfg


def _check_against(model, state, path):
    """Names and shapes of the stored tensors against the model the configuration builds. Coding tables
    have data-dependent shapes and are only required to be present."""
    from .model.entropy.tables import TableBuffers

    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"missing {', '.join(missing[:3])}" if missing else "",
                 f"unexpected {', '.join(unexpected[:3])}" if unexpected else ""]
        raise ModelError(f"{path}: tensors do not match the {model.cfg.name!r} model "
                         f"({'; '.join(p for p in parts if p)})")
    resizable = {f"{name}.{buffer}" for name, module in model.named_modules() if isinstance(module, TableBuffers)
                 for buffer in module.resizable}
    for key, tensor in expected.items():
        if key not in resizable and tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelError(f"{path}: tensor {key} has shape {tuple(state[key].shape)}, the model "
                             f"needs {tuple(tensor.shape)}")


def _read(path):
    """(config dict, state dict, info, id) from a weights file of either format."""
    import torch

    from .model.network import upgrade_state_dict

    meta = read_meta(path)
    if meta["format"] == FORMAT:
        state, meta = load_tensors(path)
        return meta["config"], state, meta.get("info", {}), weights_id(Path(path).read_bytes())
    data = Path(path).read_bytes()
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on damaged files
        raise ModelError(f"{path}: not a loadable weights file ({type(exc).__name__}: {exc})") from None
    state = blob.get("state_dict") if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: not an icisp weights file (no tensor dictionary)")
    return blob["config"], upgrade_state_dict(_expand(state)), blob.get("info", {}), weights_id(data)


def load_weights(name_or_path=None, device="cpu"):
    """-> (model in eval mode on device, weights id, info dict)."""
    from .model import build_model

    path = name_or_path if isinstance(name_or_path, Path) else resolve(name_or_path)
    raw_config, state, info, wid = _read(Path(path))
    try:
        model = build_model(_config(raw_config, path))  # bounded in size by _config
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to build means a broken configuration
        raise ModelError(f"{path}: broken model configuration ({type(exc).__name__}: {exc})") from None
    _check_against(model, state, path)
    model.load_state_dict(state)
    return model.to(device).eval(), wid, info
