"""The .icisp container: round trip, refusal of damaged files, no torch needed to read it."""
import subprocess
import sys
from pathlib import Path

import pytest

from icisp_codec.bitstream import Container, parse, serialize
from icisp_codec.errors import CorruptFile


def _container():
    return Container(model="lite", weights_id=bytes(range(8)), lam=2.5, width=131, height=77,
                     pad_mode="replicate", tile_latents=4,  # a 8x12 latent grid: 2x3 tiles
                     tiles=[(b"\x01" * i, b"\x02" * 2 * i) for i in range(6)],
                     metadata={"ICCP": b"profile"}, symbol_crc=0xDEADBEEF)


def test_round_trip():
    c = _container()
    parsed = parse(serialize(c))
    assert parsed == c
    assert parsed.payload_bytes == 45


@pytest.mark.parametrize("damage", ["magic", "version", "truncate", "flip", "empty", "huge", "tiles", "tile size"])
def test_damaged_files_are_refused(damage):
    data = bytearray(serialize(_container()))
    if damage == "magic":
        data[0] ^= 0xFF
    elif damage == "version":
        data[4] = 99
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0x40
    elif damage == "empty":
        data = b""
    elif damage == "huge":
        c = _container()
        c.width = c.height = 100000
        data = serialize(c)
    elif damage == "tiles":  # a tile missing: the count no longer matches the image's tile grid
        c = _container()
        c.tiles.pop()
        data = serialize(c)
    elif damage == "tile size":
        c = _container()
        c.tile_latents = 6
        data = serialize(c)
    with pytest.raises(CorruptFile):
        parse(bytes(data))


def test_parser_does_not_import_torch():
    code = (
        "import sys; from icisp_codec.bitstream import parse, serialize, Container; "
        "c = Container('lite', bytes(8), 1.0, 5, 5, 'zero', 4, tiles=[(b'', b'')]); parse(serialize(c)); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_documented_file_magic_identifies_icisp_files(tmp_path):
    """The file(1) magic entry in docs/bitstream.md recognises a real file and names its MIME type."""
    import re
    import shutil

    if not shutil.which("file"):
        pytest.skip("file(1) is not installed")
    doc = (Path(__file__).parent.parent / "docs" / "bitstream.md").read_text()
    magic = re.search(r"```\n(0\tstring\tICSP.*?)```", doc, re.S).group(1)
    (tmp_path / "icisp.magic").write_text(magic)
    c = _container()
    (tmp_path / "x.icisp").write_bytes(serialize(c))
    described = subprocess.run(["file", "-m", str(tmp_path / "icisp.magic"), str(tmp_path / "x.icisp")],
                               capture_output=True, text=True).stdout
    mime = subprocess.run(["file", "--mime-type", "-m", str(tmp_path / "icisp.magic"), str(tmp_path / "x.icisp")],
                          capture_output=True, text=True).stdout
    assert "icisp learned image, format version 2, model lite" in described and "image/x-icisp" in mime
