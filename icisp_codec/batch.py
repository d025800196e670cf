"""Folders in batch: plan (mirror the tree, shard, skip existing), run (in-process or a process pool),
summarise. One bad file is reported and skipped; the caller exits non-zero if any failed."""
import hashlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .errors import IcispError, UsageError
from .image_io import IMAGE_SUFFIXES

ICISP_SUFFIX = ".icisp"


def parse_shard(text):
    """'I/N' -> (I, N) with 0 <= I < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except (ValueError, AttributeError):
        raise UsageError(f"--shard takes I/N, e.g. 0/4 (got {text!r})") from None
    if not 0 <= i < n:
        raise UsageError(f"--shard {text}: need 0 <= I < N")
    return i, n


def in_shard(relative: str, shard) -> bool:
    """Deterministic 1/N of the files by a hash of their relative path (stable when files are added)."""
    if shard is None:
        return True
    i, n = shard
    return int(hashlib.sha1(relative.encode()).hexdigest(), 16) % n == i


def plan(src_dir, out_dir, decode, out_suffix=".png", shard=None, skip_existing=False):
    """[(src, dst)] mirroring src_dir under out_dir: images -> .icisp when encoding, .icisp -> images."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    wanted = {ICISP_SUFFIX} if decode else IMAGE_SUFFIXES
    jobs = []
    for src in sorted(p for p in src_dir.rglob("*") if p.is_file() and p.suffix.lower() in wanted):
        relative = src.relative_to(src_dir)
        if not in_shard(str(relative), shard):
            continue
        dst = out_dir / relative.with_suffix(out_suffix if decode else ICISP_SUFFIX)
        if skip_existing and dst.exists():
            continue
        jobs.append((src, dst))
    return jobs


# Worker side: each process loads the codec once.
_WORKER = {}


def _init_worker(load_kwargs, threads):
    import torch

    from .codec import Codec

    torch.set_num_threads(threads)
    _WORKER["codec"] = Codec.load(**load_kwargs)


def _run_one(task):
    fn, src, dst, options = task
    try:
        report = fn(_WORKER["codec"], src, dst, **options)
        report = report[0] if isinstance(report, tuple) else report
        return {"file": str(src), "output": str(dst), "bytes": report.file_bytes, "pixels": report.pixels,
                "bpp": report.file_bpp, "seconds": report.seconds}
    except IcispError as exc:
        return {"file": str(src), "error": str(exc), "exit_code": exc.exit_code}


def run(jobs, fn, options, codec=None, load_kwargs=None, workers=1, cpu_count=2):
    """Apply fn(codec, src, dst, **options) to every job; returns the summary dict."""
    start = time.perf_counter()
    tasks = [(fn, src, dst, options) for src, dst in jobs]
    tty = sys.stderr.isatty()
    results = []
    if workers > 1:
        threads = max(1, cpu_count // workers)
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(load_kwargs, threads)) as pool:
            iterator = pool.map(_run_one, tasks)
            for i, r in enumerate(iterator, 1):
                results.append(r)
                if tty:
                    print(f"\r{i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    else:
        _WORKER["codec"] = codec
        for i, task in enumerate(tasks, 1):
            results.append(_run_one(task))
            if tty:
                print(f"\r{i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    if tty and tasks:
        print(file=sys.stderr)
    ok = [r for r in results if "error" not in r]
    total_bytes = sum(r["bytes"] for r in ok)
    total_pixels = sum(r["pixels"] for r in ok)
    return {
        "files": len(results),
        "succeeded": len(ok),
        "failed": [{"file": r["file"], "error": r["error"]} for r in results if "error" in r],
        "total_bytes": total_bytes,
        "mean_bpp": sum(r["bpp"] for r in ok) / len(ok) if ok else None,
        "total_bpp": total_bytes * 8 / total_pixels if total_pixels else None,
        "seconds": time.perf_counter() - start,
        "results": results,
    }
