"""Inference speed on this machine: encode and decode time, megapixels/s and peak RSS of `lite`, `paper`
and compressai's bmshj2018-hyperprior (untrained weights: timing does not depend on them), plus AVIF and
JPEG XL decode time, GMAC per pixel of each model, and the GFLOP/s each model's encode and decode achieve
against this machine's measured fp32 matmul peak. Each measurement runs in its own process so that peak RSS
is its own. `lite-bf16` / `paper-bf16` (in --what) run the transforms under bf16 autocast (`icisp encode
--bf16`): worth it only on CPUs with native bf16 (AVX-512 BF16, AMX). `lite-e3` (any model, levels 2-4) encodes at
that --effort (the latent search's time does not depend on the weights either).

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/speed.py [--sizes 768x512,2048x1536]
        [--rounds 3]   # each codec measured 3 times in turn, best kept: steadier ratios on a shared machine
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def _image(width, height):
    import numpy as np

    rng = np.random.default_rng(0)
    # smooth content plus texture: closer to a photo than white noise
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 60 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None]
    return np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def _best_time(fn, repeats):
    # the best of several: on a shared virtual machine other tenants only ever add time
    return min(_timed(fn) for _ in range(repeats))


def measure_icisp(config, width, height, repeats, bf16=False, effort=1):
    import tempfile
    from pathlib import Path

    import torch

    from icisp_codec.codec import Codec
    from icisp_codec.model import build_model
    from icisp_codec.weights import save_weights

    torch.manual_seed(0)
    model = build_model(config)
    model.build_tables()
    with tempfile.TemporaryDirectory() as tmp:
        save_weights(model, Path(tmp) / "w.pt")
        codec = Codec.load(Path(tmp) / "w.pt", device="cpu", bf16=bf16)
    rgb = _image(width, height)
    data, _ = codec.encode(rgb, 2.5, effort=effort)  # warm-up (and the compiled scan's first load)
    codec.decode(data)
    enc = _best_time(lambda: codec.encode(rgb, 2.5, effort=effort), repeats)
    dec = _best_time(lambda: codec.decode(data), repeats)
    return {"encode_s": enc, "decode_s": dec, "gmac_per_pixel": _gmac_per_pixel(lambda x: codec.model(x, 2.5)),
            "encode_gflop": _gflop(lambda: codec.encode(rgb, 2.5, effort=effort)),
            "decode_gflop": _gflop(lambda: codec.decode(data))}


def measure_bmshj(width, height, repeats):
    import torch
    from compressai.models import ScaleHyperprior

    from icisp_codec.image_io import pad, to_tensor

    torch.manual_seed(0)
    model = ScaleHyperprior(128, 192).eval()
    model.update(force=True)
    x = pad(to_tensor(_image(width, height)), 64, "replicate")
    with torch.no_grad():
        out = model.compress(x)
        model.decompress(out["strings"], out["shape"])
        enc = _best_time(lambda: model.compress(x), repeats)
        dec = _best_time(lambda: model.decompress(out["strings"], out["shape"]), repeats)
        return {"encode_s": enc, "decode_s": dec, "gmac_per_pixel": _gmac_per_pixel(model),
                "encode_gflop": _gflop(lambda: model.compress(x)),
                "decode_gflop": _gflop(lambda: model.decompress(out["strings"], out["shape"]))}


def measure_peer(name, width, height, repeats):
    from icisp_codec.evaluation.peers import CODECS

    encode, decode = CODECS[name]
    rgb = _image(width, height)
    data = encode(rgb, 50)
    return {"encode_s": _best_time(lambda: encode(rgb, 50), repeats),
            "decode_s": _best_time(lambda: decode(data), repeats)}


def _gflop(run):
    """Floating-point (and integer-product) operations of one call, as torch's counter sees its convolutions
    and matmuls; the selective scan and elementwise work are not counted, so the achieved rate is a floor.
    Counted on one thread: the counter sees only its own thread, and icisp's synthesis bands run on one
    worker thread per core (the operations are the same)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    torch.set_num_threads(threads)
    return counter.get_total_flops() / 1e9


def matmul_peak_gflops(threads, size=2048, repeats=10):
    """Best fp32 GEMM rate of this machine with this many threads: the ceiling for conv-heavy networks."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    return 2 * size**3 / min(_timed(lambda: a @ b) for _ in range(repeats)) / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _gmac_per_pixel(forward):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward(x)
    return counter.get_total_flops() / 2 / 1e9 / (256 * 256)


def child(args):
    import torch

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    what, has_effort, effort = args.what.partition("-e")
    config = what.removesuffix("-bf16")
    if config in ("lite", "paper"):
        result = measure_icisp(config, width, height, args.repeats, bf16=config != what,
                               effort=int(effort) if has_effort else 1)
    elif args.what == "bmshj2018-hyperprior":
        result = measure_bmshj(width, height, args.repeats)
    else:
        result = measure_peer(args.what, width, height, args.repeats)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps(result))


def _measure(what, size, args):
    """One codec's figures from a process of its own (so that its peak RSS is its own)."""
    out = subprocess.run([sys.executable, __file__, "--child", "--what", what, "--size", size,
                          "--threads", str(args.threads), "--repeats", str(args.repeats)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_of(a, b):
    """Two rounds' figures of one codec: the shorter times (other tenants only ever add time), the larger RSS."""
    best = dict(a, encode_s=min(a["encode_s"], b["encode_s"]), decode_s=min(a["decode_s"], b["decode_s"]))
    best["peak_rss_gb"] = max(a["peak_rss_gb"], b["peak_rss_gb"])
    return best


BASELINE = "bmshj2018-hyperprior"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="768x512")
    parser.add_argument("--what", default="bmshj2018-hyperprior,lite,paper,avif,jxl")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every codec this many times, in turn, and keep each one's best: on a shared "
                             "machine the ratios then compare the same quiet moments")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    peak = matmul_peak_gflops(args.threads)
    whats = args.what.split(",")
    print(f"threads={args.threads}, best of {args.repeats} in each of {args.rounds} round(s), codecs in turn; icisp "
          f"times include range coding; MAC/pixel of the full forward pass at 256x256; fp32 matmul peak {peak:.0f} "
          f"GFLOP/s (2048² GEMM); × = time against {BASELINE} in this run")
    print("| codec | size | encode s | decode s | encode × | decode × | decode MP/s | peak RSS GB "
          "| MAC/pixel (forward, scan excluded) | encode GFLOP/s (% of peak) | decode GFLOP/s (% of peak) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        results, failures = {}, {}
        for _ in range(args.rounds):
            for what in whats:
                if what in failures:
                    continue
                try:
                    r = _measure(what, size, args)
                except RuntimeError as exc:
                    failures[what] = str(exc)
                    continue
                results[what] = _best_of(results[what], r) if what in results else r
        base = results.get(BASELINE)
        for what in whats:
            if what in failures:
                print(f"| {what} | {size} | failed: {failures[what]} |||||||||")
                continue
            r = results[what]
            gmac = f"{r['gmac_per_pixel'] * 1e6:.0f} k" if "gmac_per_pixel" in r else "–"
            rates = [f"{r[f'{op}_gflop'] / r[f'{op}_s']:.0f} ({100 * r[f'{op}_gflop'] / r[f'{op}_s'] / peak:.0f}%)"
                     if f"{op}_gflop" in r else "–" for op in ("encode", "decode")]
            ratios = [f"{r[f'{op}_s'] / base[f'{op}_s']:.2f}" if base else "–"
                      for op in ("encode", "decode")]
            print(f"| {what} | {size} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | {ratios[0]} | {ratios[1]} "
                  f"| {w * h / 1e6 / r['decode_s']:.2f} | {r['peak_rss_gb']:.2f} | {gmac} | {rates[0]} | {rates[1]} |",
                  flush=True)


if __name__ == "__main__":
    main()
