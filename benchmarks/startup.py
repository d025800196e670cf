"""What a shell script pays per file: whole-process `icisp encode` / `icisp decode` wall time on a 768x512
image with the shipped weights, next to the in-process coding time the command reports, the time of
`python -c "import torch"`, the import time of the package's coding path, and the whole-process times of the
peers' command-line tools (cwebp/dwebp, avifenc/avifdec, cjxl/djxl, where installed). Best of --repeats runs.

    python benchmarks/startup.py [--repeats 3] [--threads 2]

The overhead (wall - coding - import torch) is what icisp adds around the coding itself: the Python start,
its own imports, loading the weights, reading and writing the files.
"""
import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from speed import _image  # noqa: E402  (the same synthetic 768x512 photo as the speed table)


def _wall(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return time.perf_counter() - start, result.stderr


def _best(command, repeats):
    runs = [_wall(command) for _ in range(repeats)]
    return min(runs, key=lambda r: r[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import shutil

    from PIL import Image

    python = sys.executable
    icisp = [python, "-m", "icisp_codec.cli.main", "--threads", str(args.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        Image.fromarray(_image(768, 512)).save(tmp / "in.png")
        torch_s, _ = _best([python, "-c", "import torch"], args.repeats)
        package_s, _ = _best([python, "-c", "import torch, icisp_codec.codec"], args.repeats)
        encode_s, line = _best([*icisp, "encode", str(tmp / "in.png"), str(tmp / "a.icisp"), "-f"], args.repeats)
        decode_s, decode_line = _best([*icisp, "decode", str(tmp / "a.icisp"), str(tmp / "a.png"), "-f"],
                                      args.repeats)
        peers = []
        tools = (("webp", ["cwebp", "-quiet", "-q", "50"], ["dwebp", "-quiet"], "webp"),
                 ("avif", ["avifenc", "-s", "6", "--min", "25", "--max", "35"], ["avifdec"], "avif"),
                 ("jxl", ["cjxl", "-q", "50", "--quiet"], ["djxl", "--quiet"], "jxl"))
        for name, enc, dec, suffix in tools:
            if not (shutil.which(enc[0]) and shutil.which(dec[0])):
                continue
            coded, back = tmp / f"p.{suffix}", tmp / f"p-{suffix}.png"
            encode_args = [*enc, str(tmp / "in.png"), "-o", str(coded)] if name == "webp" else \
                [*enc, str(tmp / "in.png"), str(coded)]
            decode_args = [*dec, str(coded), "-o", str(back)] if name == "webp" else [*dec, str(coded), str(back)]
            peers.append((name, _best(encode_args, args.repeats)[0], _best(decode_args, args.repeats)[0]))
    coded = {}
    for name, text in (("encode", line), ("decode", decode_line)):
        match = re.search(r"(?:en|de)coded in ([0-9.]+) s \(model loading ([0-9.]+) s", text)
        coded[name] = (float(match.group(1)), float(match.group(2)))
    print(f"python -c 'import torch': {torch_s:.2f} s; the coding path's import (icisp_codec.codec) beyond it: "
          f"{package_s - torch_s:.2f} s")
    print("| command | whole process s | coding s (its own line) | model loading s "
          "| overhead s (whole - coding - import torch) |")
    print("|---|---|---|---|---|")
    for name, wall in (("encode", encode_s), ("decode", decode_s)):
        coding, loading = coded[name]
        print(f"| icisp {name} 768x512 | {wall:.2f} | {coding:.2f} | {loading:.2f} | {wall - coding - torch_s:.2f} |")
    for name, encode_wall, decode_wall in peers:
        print(f"| {name} encode / decode (command-line tools) | {encode_wall:.2f} / {decode_wall:.2f} | | | |")


if __name__ == "__main__":
    main()
