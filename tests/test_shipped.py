"""The shipped `lite` weights on development images (never training images)."""
import numpy as np
import pytest

from .conftest import dev_image

DEV_IMAGES = ["chelsea.png", "coffee.png", "astronaut.png", "motorcycle_left.png"]


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("lam", [1.0, 1.5, 2.5, 5.0])
def test_round_trip_of_a_development_photo(shipped_codec, lam):
    rgb = dev_image("astronaut.png")
    data, enc = shipped_codec.encode(rgb, lam)
    decoded, dec = shipped_codec.decode(data)
    assert decoded.shape == rgb.shape
    assert enc.file_bpp == len(data) * 8 / (rgb.shape[0] * rgb.shape[1])
    psnr = _psnr(decoded, rgb)
    print(f"astronaut.png λ={lam}: {enc.file_bpp:.4f} bpp, PSNR {psnr:.2f} dB")
    assert psnr > 20.0  # a recognisable image, not noise


def test_payload_matches_the_entropy_estimate(shipped_codec):
    """Payload bpp within 2% of the model's estimated entropy (coding-table rounding + range-coder overhead)."""

    for name in DEV_IMAGES:
        for lam in (1.0, 5.0):
            data, report = shipped_codec.encode(dev_image(name), lam, estimate=True)
            ratio = report.payload_bpp / report.estimated_bpp
            print(f"{name} λ={lam}: payload {report.payload_bpp:.4f} bpp, estimate {report.estimated_bpp:.4f}, "
                  f"ratio {ratio:.4f}")
            assert abs(ratio - 1) < 0.02


def test_rate_falls_as_lambda_grows(shipped_codec):
    rgb = dev_image("coffee.png")
    sizes = [len(shipped_codec.encode(rgb, lam)[0]) for lam in (1.0, 1.5, 2.5, 5.0)]
    print("coffee.png bytes at λ=1, 1.5, 2.5, 5:", sizes)
    assert sizes == sorted(sizes, reverse=True)
