"""The development evaluation images (docs/data.md), gathered into one folder.

    python -m icisp_codec.evaluation.devset DIR

scikit-image's lossless photos (astronaut, coffee, chelsea, motorcycle_left) and libjxl-testdata's flower
and three 500px sRGB photos (Debian package, installed if missing). Never used for training.
"""
import shutil
import subprocess
import sys
from pathlib import Path

SKIMAGE = ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png")
LIBJXL = Path("/usr/share/libjxl-testdata")
LIBJXL_FILES = ("jxl/flower/flower.png",)
LIBJXL_500PX = LIBJXL / "external/wesaturate/500px"


def gather(out_dir) -> list:
    import skimage

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not LIBJXL.exists():
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "libjxl-testdata"], check=True,
                       stdout=subprocess.DEVNULL)
    sources = [Path(skimage.__file__).parent / "data" / n for n in SKIMAGE]
    sources += [LIBJXL / f for f in LIBJXL_FILES] + sorted(LIBJXL_500PX.glob("*_srgb8.png"))
    for src in sources:
        shutil.copyfile(src, out_dir / src.name)
    return [out_dir / s.name for s in sources]


if __name__ == "__main__":
    for path in gather(sys.argv[1] if len(sys.argv) > 1 else "runs/dev"):
        print(path)
