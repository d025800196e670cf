"""The ICISP model: blocks, selective scan, transforms, entropy model, rate gains."""
from .config import CONFIGS, ModelConfig, get_config
from .network import ICISP, PAD_MULTIPLE, build_model, parameter_count

__all__ = ["CONFIGS", "ModelConfig", "get_config", "ICISP", "PAD_MULTIPLE", "build_model", "parameter_count"]
