"""The ICISP model: blocks, selective scan, transforms, entropy model, rate gains.

The configurations import only the standard library; the network (and torch) loads on first use, so the
command line can read presets and configurations without torch."""
from .config import CONFIGS, ModelConfig, get_config

_NETWORK = ("ICISP", "build_model", "parameter_count")


def __getattr__(name):
    if name in _NETWORK:
        from . import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONFIGS", "ModelConfig", "get_config", *_NETWORK]
