"""icisp: a learned perceptual image codec (ICISP, Wei et al. 2025) that runs and trains on a CPU.

Importing the package is cheap and does not import torch; it registers the Pillow plugin (pillow_plugin.py),
so that PIL.Image.open reads .icisp files. The codec API lives in icisp_codec.codec.
"""
__version__ = "0.1.0"

from . import pillow_plugin  # noqa: E402,F401  (registers .icisp with Pillow)
