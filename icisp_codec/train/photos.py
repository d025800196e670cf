"""The fixed training photos of the shipped weights (docs/data.md), prepared for training.

Most are JPEGs from Debian wallpaper packages: each is downscaled 2x or more with Lanczos (so 8x8 JPEG
blocking falls below the codec's attention) and written as PNG. Three small photos that ship inside Python
packages add people and everyday scenes, which the wallpapers lack; they are small already, so they are used
at full size. Nothing else is used to train the shipped weights; users train on their own folders with
`icisp train --data DIR`.
"""
import importlib.util
import subprocess
from pathlib import Path

from PIL import Image

DEBIAN_PACKAGES = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "plasma-workspace-wallpapers")
_BACKGROUNDS = Path("/usr/share/backgrounds")
_LOMIRI_1604 = [
    "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
    "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
    "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
    "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
    "sunset_by_Aitzol_Berasategi",
]  # umang_by_Abhishek_Mudgal is an illustration: excluded
_LOMIRI_2004 = ["Kleiber_by_Lukas_Baubkus"]  # the other 20.04 wallpapers are composites/illustrations
_PLASMA = [
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
    "OneStandsOut", "Path", "summer_1am",
]  # the other plasma wallpapers are renders


# (package, path inside it): matplotlib's portrait (public domain), scikit-learn's two photos (CC-BY-2.0).
PACKAGE_PHOTOS = (
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
)


def source_paths():
    paths = [_BACKGROUNDS / f"{n}.jpg" for n in _LOMIRI_1604 + _LOMIRI_2004]
    paths += [Path("/usr/share/wallpapers") / n / "contents/images/2560x1600.jpg" for n in _PLASMA]
    return paths


def package_photo_paths():
    """{name: file} of the package photos, located without importing the packages."""
    paths = {}
    for package, relative in PACKAGE_PHOTOS:
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise FileNotFoundError(f"training photo {relative} needs the {package} package (pip install "
                                    f"-e '.[train]')")
        paths[f"{package}-{Path(relative).stem}"] = Path(spec.origin).parent / relative
    return paths


def install_packages():
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES], check=True,
                   stdout=subprocess.DEVNULL)


def prepare(out_dir, downscale=2.0, max_side=2048) -> list:
    """Write the downscaled PNGs to out_dir (skipping those already there); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in source_paths() if not p.exists()]
    if missing:
        install_packages()
    written = []
    for src in source_paths():
        dst = out_dir / f"{src.parent.parent.parent.name if src.name == '2560x1600.jpg' else src.stem}.png"
        if not dst.exists():
            with Image.open(src) as im:
                im = im.convert("RGB")
                factor = max(downscale, max(im.size) / max_side)
                size = (round(im.width / factor), round(im.height / factor))
                im.resize(size, Image.Resampling.LANCZOS).save(dst)
        written.append(dst)
    for name, src in package_photo_paths().items():  # small already: full size
        dst = out_dir / f"{name}.png"
        if not dst.exists():
            with Image.open(src) as im:
                im.convert("RGB").save(dst)
        written.append(dst)
    return written
