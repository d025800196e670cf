"""Time of the exact-integer context path's convolutions with each exact product kernel: int8 (direct
convolution) and float64 (Winograd F(2x2, 3x3)), inside a whole encode and decode of a 768x512 image with the
shipped weights (model/entropy/exact_conv.py). Both kernels give the same file; the codec uses the one that
`icisp setup` timed faster on this CPU.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/context_path.py [--threads 2]
"""
import argparse
import hashlib
import sys
import time
from pathlib import Path

import torch

from icisp_codec.codec import Codec
from icisp_codec.model.entropy import exact_conv

sys.path.insert(0, str(Path(__file__).parent))
from speed import _image  # noqa: E402  (the same synthetic 768x512 photo as the speed table)


def measure(kernel, rgb, repeats):
    spent = [0.0]
    call = exact_conv.ExactConv3x3.__call__

    def timed(conv, a):
        start = time.perf_counter()
        out = call(conv, a)
        spent[0] += time.perf_counter() - start
        return out

    original = exact_conv.fastest_kernel
    exact_conv.fastest_kernel = lambda device_type: kernel
    exact_conv.ExactConv3x3.__call__ = timed
    try:
        codec = Codec.load(device="cpu", bf16=False)
        data, _ = codec.encode(rgb, 2.5)  # warm-up
        codec.decode(data)
        best = {}
        for _ in range(repeats):
            for what, run in (("encode", lambda: codec.encode(rgb, 2.5)), ("decode", lambda: codec.decode(data))):
                spent[0], start = 0.0, time.perf_counter()
                run()
                whole = time.perf_counter() - start
                context, whole_best = best.get(what, (float("inf"), float("inf")))
                best[what] = (min(context, spent[0]), min(whole_best, whole))
        return best, hashlib.sha256(data).hexdigest()[:12]
    finally:
        exact_conv.fastest_kernel = original
        exact_conv.ExactConv3x3.__call__ = call


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rgb = _image(768, 512)
    print(f"768x512, shipped weights, λ 2.5, {args.threads} threads, best of {args.repeats}; "
          f"this CPU's choice: {exact_conv.fastest_kernel('cpu').name}")
    print("| kernel | route | context convolutions, encode ms | whole encode ms | context, decode ms | whole decode ms "
          "| file |")
    print("|---|---|---|---|---|---|---|")
    for kernel in (exact_conv.INT8, exact_conv.FLOAT64):
        best, digest = measure(kernel, rgb, args.repeats)
        route = "Winograd" if kernel.winograd else "direct"
        (ce, we), (cd, wd) = best["encode"], best["decode"]
        times = " | ".join(f"{seconds * 1e3:.0f}" for seconds in (ce, we, cd, wd))
        print(f"| {kernel.name} | {route} | {times} | {digest} |")


if __name__ == "__main__":
    main()
