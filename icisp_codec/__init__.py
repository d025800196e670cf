"""icisp: a learned perceptual image codec (ICISP, Wei et al. 2025) that runs and trains on a CPU.

Importing the package is cheap and does not import torch; the codec API lives in icisp_codec.codec.
"""
__version__ = "0.1.0"
