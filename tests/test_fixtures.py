"""Files written by an earlier version of icisp decode to the same image today.

tests/fixtures holds a small model's weights file (format 1) and .icisp files it made, with the images they
decoded to when they were written. Decoding checks every symbol against the file's symbol CRC, so the
latents are exact; the pixels come from the float synthesis, identical on the machine that wrote them and
within rounding of it elsewhere. Both exact product kernels decode them, whichever this CPU would pick."""
from pathlib import Path

import numpy as np
import pytest

from icisp_codec.image_io import load_rgb
from icisp_codec.model.entropy import exact_conv

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module", params=[exact_conv.INT8, exact_conv.FLOAT64], ids=lambda k: k.name)
def fixture_codec(request):
    from icisp_codec.codec import Codec

    with pytest.MonkeyPatch.context() as patch:  # int8 convolves directly, float64 through Winograd
        patch.setattr(exact_conv, "fastest_kernel", lambda device_type: request.param)
        yield Codec.load(FIXTURES / "tiny.pt", device="cpu", bf16=False)


@pytest.mark.parametrize("name", ["coffee-80x150-l1", "coffee-131x77-l5-zero"])
def test_old_files_decode_to_their_images(fixture_codec, name):
    decoded, report = fixture_codec.decode((FIXTURES / f"{name}.icisp").read_bytes())
    expected = load_rgb(FIXTURES / f"{name}.png")
    difference = np.abs(decoded.astype(int) - expected)
    print(f"{name}: {report.width}x{report.height}, {(difference == 0).mean():.4%} of values identical")
    assert decoded.shape == expected.shape
    assert difference.max() <= 1 and (difference == 0).mean() > 0.99
