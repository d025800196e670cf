"""The two named model configurations, `paper` and `lite`, built by one constructor (network.build_model),
and the rate weights λ they code.

`paper` is the authors' released model (docs/model.md). `lite` is what we train and ship on a 2-core CPU;
docs/departures.md lists every difference from `paper`, why, and what it costs.
"""
import math
from dataclasses import asdict, dataclass, field, replace

# The paper's four rate weights λ (larger λ: fewer bits), by the name of the preset that selects each. A
# variable-rate model codes every λ between the smallest and the largest; the authors released one
# fixed-rate model per λ.
PRESETS = {"best": 1.0, "high": 1.5, "medium": 2.5, "low": 5.0}
DEFAULT_LAMBDA = PRESETS["medium"]

# The paper's distortion weight: its λ = 0.0067 on 255²·MSE, against bits per pixel.
PAPER_MSE_WEIGHT = 0.0067 * 255**2

# Encoder effort (--effort, as cjxl's -e): level -> steps of the encoder's latent search (latent_search.py).
# Level 1 codes the analysis transform's latent as it is; every level decodes with the same decoder.
EFFORTS = {1: 0, 2: 3, 3: 6, 4: 12}
DEFAULT_EFFORT = 1

# λ is stored as float32 in files; a value within this relative distance of a range end is that end.
LAMBDA_TOLERANCE = 1e-6


def check_lambda(lam, lambda_range):
    """lam as a float if it lies in lambda_range (ValueError otherwise)."""
    lo, hi = lambda_range
    lam = float(lam)
    if not (math.isfinite(lam) and lo * (1 - LAMBDA_TOLERANCE) <= lam <= hi * (1 + LAMBDA_TOLERANCE)):
        span = f"{lo:g}" if lo == hi else f"[{lo:g}, {hi:g}]"
        raise ValueError(f"λ={lam:g} is outside this model's rate range {span}")
    return lam


@dataclass(frozen=True)
class ModelConfig:
    name: str
    N: int  # transform width
    M: int  # latent channels
    z_channels: int  # hyper-latent channels
    rssm_levels: tuple  # downsampling factors (2, 4, 8, 16) at which g_a and g_s hold an RSSM
    hyper_rssm: bool  # an RSSM inside h_a (and inside each h_s branch when hyper_branches == 2)
    hyper_branches: int  # 2: separate mean/scale hyper-synthesis with RSSMs (paper); 1: shared conv trunk
    hyper_width: int  # width of the conv hyper-synthesis trunk (hyper_branches == 1)
    num_slices: int
    max_support_slices: int
    slice_hidden: tuple  # widths of the two hidden convs of every slice/LRP network
    context_activation: str  # "gelu" (paper) or "relu" (integer-friendly)
    lrp_activation: str  # "tanh" (paper: 0.5*tanh) or "clip" (clamp to [-0.5, 0.5])
    rate_presets: tuple = tuple(sorted(PRESETS.values()))  # λs the rate gains are learnt at
    lambda_modulation: bool = False  # λ-dependent channel scales at the end of every transform stage (rate.py)
    d_state: int = 16
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


PAPER = ModelConfig(
    name="paper",
    N=64,
    M=320,
    z_channels=192,
    rssm_levels=(2, 4, 8),
    hyper_rssm=True,
    hyper_branches=2,
    hyper_width=64,
    num_slices=5,
    max_support_slices=5,
    slice_hidden=(224, 128),
    context_activation="gelu",
    lrp_activation="tanh",
)

LITE = ModelConfig(
    name="lite",
    N=64,
    M=192,
    z_channels=128,
    rssm_levels=(8, 16),
    hyper_rssm=True,
    hyper_branches=1,
    hyper_width=96,
    num_slices=4,
    max_support_slices=4,
    slice_hidden=(96, 64),
    context_activation="relu",
    lrp_activation="clip",
)

# A tiny configuration for tests, where what the weights are does not matter.
TINY = ModelConfig(
    name="tiny",
    N=16,
    M=32,
    z_channels=16,
    rssm_levels=(8, 16),
    hyper_rssm=True,
    hyper_branches=1,
    hyper_width=32,
    num_slices=2,
    max_support_slices=2,
    slice_hidden=(32, 16),
    context_activation="relu",
    lrp_activation="clip",
    d_state=4,
)

CONFIGS = {c.name: c for c in (PAPER, LITE, TINY)}


def fixed_rate(cfg, lam):
    """cfg as a fixed-rate model of one λ (the authors' released models): identity gains, one preset."""
    return replace(cfg, rate_presets=(float(lam),))


def get_config(name_or_dict) -> ModelConfig:
    if isinstance(name_or_dict, ModelConfig):
        return name_or_dict
    if isinstance(name_or_dict, dict):
        d = dict(name_or_dict)
        d["rssm_levels"] = tuple(d["rssm_levels"])
        d["slice_hidden"] = tuple(d["slice_hidden"])
        d["rate_presets"] = tuple(d["rate_presets"])
        return ModelConfig(**d)
    try:
        return CONFIGS[name_or_dict]
    except KeyError:
        raise ValueError(f"unknown model configuration {name_or_dict!r}; known: {', '.join(CONFIGS)}") from None
