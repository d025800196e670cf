"""What the memory allocator costs the coding: in-process encode and decode of a 768x512 image with the shipped
weights (best of --repeats after a warm-up) and the minor page faults each one takes, in a fresh process per
allocator: glibc's malloc as Python starts it, glibc tuned as `icisp` tunes it at start (cli/main.py), and
tcmalloc where its library is installed (Debian: libtcmalloc-minimal4), preloaded.

    python benchmarks/allocator.py [--repeats 7] [--threads 2] [--rounds 3]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


def child(allocator, repeats, threads):
    if allocator == "glibc, tuned":
        from icisp_codec.cli.main import _keep_freed_memory

        _keep_freed_memory()
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from speed import _image  # the same synthetic 768x512 photo as the speed table

    from icisp_codec.codec import Codec

    torch.set_num_threads(threads)
    codec = Codec.load(device="cpu", bf16=False)
    rgb = _image(768, 512)
    data, _ = codec.encode(rgb, 2.5)
    codec.decode(data)

    def measured(run):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        run()
        return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    result = {}
    for what, run in (("encode", lambda: codec.encode(rgb, 2.5)), ("decode", lambda: codec.decode(data))):
        runs = [measured(run) for _ in range(repeats)]
        result[what] = {"seconds": min(s for s, _ in runs), "faults": sorted(f for _, f in runs)[len(runs) // 2]}
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="each allocator measured this many times in turn")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.repeats, args.threads)
    allocators = ["glibc", "glibc, tuned"] + (["tcmalloc"] if os.path.exists(TCMALLOC) else [])
    best = {}
    for _ in range(args.rounds):
        for allocator in allocators:
            env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
            if allocator == "tcmalloc":
                env["LD_PRELOAD"] = TCMALLOC
            out = subprocess.run([sys.executable, __file__, "--child", allocator, "--repeats", str(args.repeats),
                                  "--threads", str(args.threads)], env=env, capture_output=True, text=True,
                                 check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            for what, figures in result.items():
                kept = best.setdefault((allocator, what), figures)
                if figures["seconds"] < kept["seconds"]:
                    best[(allocator, what)] = figures
    print(f"768x512, shipped weights, λ 2.5, {args.threads} threads, fp32; best of {args.repeats} in each of "
          f"{args.rounds} rounds; faults: minor page faults of the median run")
    print("| allocator | encode s | encode faults | decode s | decode faults |")
    print("|---|---|---|---|---|")
    for allocator in allocators:
        e, d = best[(allocator, "encode")], best[(allocator, "decode")]
        print(f"| {allocator} | {e['seconds']:.3f} | {e['faults']} | {d['seconds']:.3f} | {d['faults']} |")


if __name__ == "__main__":
    main()
