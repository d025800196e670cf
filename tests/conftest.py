import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("OMP_NUM_THREADS", "2")


def dev_image(name):
    """A development-set image (scikit-image's data folder): never used for training."""
    import skimage

    from icisp_codec.image_io import load_rgb

    return load_rgb(Path(skimage.__file__).parent / "data" / name)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A randomly initialised tiny model with coding tables, saved as a weights file."""
    import torch

    from icisp_codec.model import build_model
    from icisp_codec.weights import save_weights

    torch.manual_seed(0)
    model = build_model("tiny")
    model.build_tables()
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_weights(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_codec(tiny_weights):
    from icisp_codec.codec import Codec

    return Codec.load(tiny_weights, device="cpu", bf16=False)  # fp32: the same figures on every CPU


@pytest.fixture(scope="session")
def shipped_codec():
    from icisp_codec.codec import Codec

    return Codec.load(None, device="cpu", bf16=False)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def run(tiny_weights):
    """The command line in-process; the commands that code images get the tiny model's weights."""
    from click.testing import CliRunner

    from icisp_codec.cli.main import cli

    runner = CliRunner()

    def invoke(*args, input=None, weights=True):
        args = [str(a) for a in args]
        if weights and args[0] in ("encode", "decode", "eval"):
            args += ["--weights", str(tiny_weights), "--device", "cpu"]
        return runner.invoke(cli, args, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def photo(tmp_path):
    """A 128x96 PNG crop of a development image."""
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(dev_image("chelsea.png")[:96, :128]).save(path)
    return path
