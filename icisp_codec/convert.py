"""The authors' released checkpoints (model_1 / 1.5 / 2.5 / 5.pth) as icisp weights files.

Their model is the `paper` configuration, trained once per rate weight λ. A checkpoint is read with
torch.load(weights_only=True) (a dict holding `state_dict`, or a bare state dict; DataParallel's `module.`
prefixes or not), its tensors are renamed onto the `paper` model, and the result is a fixed-rate model of
that λ: identity rate gains, its own coding tables, its own weights id. What the names do not say was read
off the authors' model definition and checked by running it (docs/authors-models.md): the layer order in
each block, the LRP's 0.5·tanh, GELU slice networks, LayerNorm with bias, the scan directions.

Their checkpoints also hold things icisp computes itself: compressai's CDF tables (icisp codes with its own
integer tables, built here from their prior) and the fixed Haar kernels (checked, then dropped). The
hyper-latent prior's quantiles are kept as trained, not refitted: the medians decide how z is rounded,
which is part of what their decoder computes.
"""
import math
import re
from pathlib import Path

from .errors import ModelError

# Their module paths -> ours (prefixes).
_PREFIXES = (
    ("h_mean_s.", "latent_codec.h_s.mean_branch."),
    ("h_scale_s.", "latent_codec.h_s.scale_branch."),
    ("h_a.", "latent_codec.h_a."),
    ("cc_mean_transforms.", "latent_codec.y_codec.mean_nets."),
    ("cc_scale_transforms.", "latent_codec.y_codec.scale_nets."),
    ("lrp_transforms.", "latent_codec.y_codec.lrp_nets."),
    ("entropy_bottleneck.", "latent_codec.z_codec.entropy_bottleneck."),
    ("gaussian_conditional.", "latent_codec.y_codec.gaussian."),
)
# Inside a state-space block (their VSSBlock = our RSSM), in this order.
_INSIDE = (
    (".norm1.body.", ".norm1."),
    (".norm2.body.", ".norm2."),
    (".ffn.ffn.", ".fdmb.mlp."),
    (".ffn.vssb_low.", ".fdmb.low."),
    (".ffn.vssb_high.", ".fdmb.high."),
    (".vssb.", ".evssb."),
    (".conv2d.", ".dwconv."),
    (".local_model.", ".local."),
)
# The selective scan's own parameters, which our VSS layers keep in their SS2D part.
_SCAN = {"x_proj_weight": "x_proj_weight", "dt_projs_weight": "dt_proj_weight", "dt_projs_bias": "dt_proj_bias",
         "A_logs": "A_log", "Ds": "D"}
# compressai's CDF tables: icisp codes with its own integer tables.
_CDF_BUFFERS = ("._quantized_cdf", "._offset", "._cdf_length", "gaussian_conditional.scale_table")
_HAAR = ".haar_op.haar_weights"
_FILE_LAMBDA = re.compile(r"model_(\d+(?:\.\d+)?)\.pth?$")


def our_name(key):
    """The icisp name of one of their tensors."""
    for theirs, ours in _PREFIXES:
        if key.startswith(theirs):
            key = ours + key[len(theirs):]
            break
    for theirs, ours in _INSIDE:
        key = key.replace(theirs, ours)
    module, _, leaf = key.rpartition(".")
    return f"{module}.ss2d.{_SCAN[leaf]}" if leaf in _SCAN else key


def lambda_from_name(path):
    match = _FILE_LAMBDA.search(Path(path).name)
    return float(match.group(1)) if match else None


def read_checkpoint(path):
    """Their state dict, without DataParallel's `module.` prefix."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on files that are not checkpoints
        raise ModelError(f"{path}: not a PyTorch checkpoint that loads safely ({type(exc).__name__}: {exc})") from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path}: no state dict of tensors in this checkpoint")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _check_haar(key, tensor, problems):
    from .model.blocks import HAAR_PATTERNS

    expected = HAAR_PATTERNS[:, None].repeat(tensor.shape[0] // 4, 1, 1, 1)
    if tuple(tensor.shape) != tuple(expected.shape) or not bool((tensor.float() == expected).all()):
        problems.append(f"{key} is not the fixed Haar kernel")


def convert(path, lam=None):
    """-> (paper model of one λ with coding tables built, λ). ModelError names the first problems."""
    import torch

    from .model import build_model
    from .model.config import PAPER, fixed_rate

    lam = lam if lam is not None else lambda_from_name(path)
    if lam is None or not (math.isfinite(lam) and lam > 0):
        raise ModelError(f"{path}: give the model's rate weight with --lambda (the file name is not model_<λ>.pth)")
    state = read_checkpoint(path)
    model = build_model(fixed_rate(PAPER, lam))
    ours = model.state_dict()
    mapped, problems, unexpected = {}, [], []
    for key, tensor in state.items():
        if key.endswith(_HAAR):
            _check_haar(key, tensor, problems)
        elif not key.endswith(_CDF_BUFFERS):
            name = our_name(key)
            if name not in ours:
                unexpected.append(key)
            elif tuple(tensor.shape) != tuple(ours[name].shape):
                needed = tuple(ours[name].shape)
                problems.append(f"{key} has shape {tuple(tensor.shape)}, the paper model needs {needed}")
            else:
                mapped[name] = tensor
    derived = ("gains.", ".freqs", ".lengths", ".offsets", ".scale_thresholds", "._quantized_cdf", "._offset",
               "._cdf_length", "gaussian.scale_table")
    missing = [k for k in ours if k not in mapped and not any(d in k for d in derived)]
    if missing:
        problems.append(f"missing {len(missing)} tensors: {', '.join(missing[:3])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors: {', '.join(unexpected[:3])}")
    if problems:
        raise ModelError(f"{path}: not the authors' ICISP model ({'; '.join(problems[:3])})")
    with torch.no_grad():
        for name, tensor in mapped.items():
            ours[name].copy_(tensor)
    model.build_tables(fit_quantiles=False)
    return model.eval(), lam
