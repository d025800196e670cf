"""A fast start: the coding path loads only the parts of compressai (and none of scipy.stats) it uses, an already
built scan kernel without torch's build tools, the commands that need no network import no torch, and the
console script's malloc reuses freed tensor memory."""
import subprocess
import sys


def _run(code):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_coding_path_skips_compressais_heavy_parts_which_still_work_afterwards(tiny_weights):
    _run("from icisp_codec.model.scan import compiled; compiled.available()")  # the kernel built, as after a first use
    out = _run(f"""
import sys, numpy as np
from icisp_codec.codec import Codec
codec = Codec.load({str(tiny_weights)!r}, device="cpu", bf16=False)
data, _ = codec.encode(np.zeros((40, 50, 3), np.uint8), 2.5)
codec.decode(data)
heavy = [m for m in ("torch_geometric", "compressai.zoo.image", "compressai.datasets.image",
                     "scipy.stats._stats_py", "torch._dynamo", "torch.utils.cpp_extension") if m in sys.modules]
print("loaded:", heavy)
import compressai, scipy.stats
from compressai.models import ScaleHyperprior
print(type(ScaleHyperprior(8, 8)).__name__, compressai.get_entropy_coder(), scipy.stats.norm.ppf(0.5))
""")
    assert "loaded: []" in out and "ScaleHyperprior ans 0.0" in out


def test_listing_weights_and_reading_headers_import_no_torch(tmp_path):
    out = _run("""
import sys
from click.testing import CliRunner
from icisp_codec.cli.main import cli
for args in (["models"], ["--version"], ["encode", "--help"]):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
print("torch" in sys.modules)
""")
    assert out.strip() == "False"


def test_icisp_keeps_freed_tensor_memory_for_reuse():
    # A fresh process, tuned as `icisp` tunes itself, frees and reallocates a transform's worth of tensors on
    # two threads (as the decoder's synthesis bands): once the heap has grown, a pass touches no new pages.
    # Untuned glibc remaps 7,000-30,000 pages in every pass of this.
    script = """
import resource
from concurrent.futures import ThreadPoolExecutor
from icisp_codec.cli.main import _keep_freed_memory
assert _keep_freed_memory(), "glibc refused a malloc setting"
import torch

def layers(_):
    x = torch.ones(3 * 2**20)
    for megabytes in (24, 8, 28, 16, 4, 20, 12):
        y = torch.ones(megabytes * 2**18) + x.sum()
        del x
        x = y

faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(layers, range(2)))
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
assert min(faults[1:]) < 256, faults  # 1 MiB of new pages at most in the quietest pass
"""
    _run(script)
