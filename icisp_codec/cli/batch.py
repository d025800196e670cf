"""Folders in batch: plan (mirror the tree, shard, skip existing, refuse collisions), run (in-process or a
process pool, with a progress bar on a terminal), summarise. One bad file is reported and skipped; the
caller exits non-zero if any failed."""
import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IcispError, UsageError
from ..image_io import IMAGE_SUFFIXES

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


@dataclass
class Plan:
    jobs: list = field(default_factory=list)  # [(src, dst)]
    skipped: int = 0  # outputs that exist (--skip-existing)
    unreadable: list = field(default_factory=list)  # [(path, reason)]: broken or looping links


def plan(src_dir, out_dir, decode, out_suffix=".png", shard=None, skip_existing=False) -> Plan:
    """Mirror src_dir under out_dir: images -> .icisp when encoding, .icisp -> images when decoding.
    Two inputs that would write one output (a.png and a.jpg) are refused before anything is coded."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    wanted = {ICISP_SUFFIX} if decode else IMAGE_SUFFIXES
    result, outputs = Plan(), {}
    for src in sorted(p for p in src_dir.rglob("*") if p.suffix.lower() in wanted):
        if src.is_symlink() and not src.exists():
            result.unreadable.append((src, "broken or looping symbolic link"))
            continue
        if not src.is_file():
            continue
        relative = src.relative_to(src_dir)
        if not in_shard(str(relative), shard):
            continue
        dst = out_dir / relative.with_suffix(out_suffix if decode else ICISP_SUFFIX)
        outputs.setdefault(os.path.normcase(dst), []).append(src)
        if skip_existing and dst.exists():
            result.skipped += 1
            continue
        result.jobs.append((src, dst))
    clashes = [sources for sources in outputs.values() if len(sources) > 1]
    if clashes:
        listed = "; ".join(" and ".join(str(s) for s in sources) for sources in clashes[:5])
        raise UsageError(f"{len(clashes)} output name(s) would be written twice: {listed}. Rename the inputs "
                         f"or code them into separate folders.")
    return result


# Worker side: each process holds its own codecs, loaded once.
_WORKER = {}


def _init_worker(codecs, threads):
    import torch

    torch.set_num_threads(threads)
    _WORKER["codecs"] = codecs


def _run_one(task):
    fn, src, dst, options = task
    try:
        report = fn(_WORKER["codecs"], src, dst, **options)
        return {"file": str(src), "output": str(dst), "bytes": report.file_bytes, "pixels": report.pixels,
                "bpp": report.file_bpp, "seconds": report.seconds, "warnings": report.warnings}
    except IcispError as exc:
        return {"file": str(src), "error": str(exc), "exit_code": exc.exit_code}


def run(planned: Plan, fn, options, codecs, workers=1, cpu_count=2, progress=True):
    """Apply fn(codecs, src, dst, **options) to every job; returns the summary dict."""
    from tqdm import tqdm

    start = time.perf_counter()
    tasks = [(fn, src, dst, options) for src, dst in planned.jobs]
    bar = tqdm(total=len(tasks), unit="file", file=sys.stderr, disable=not (progress and sys.stderr.isatty()))
    results = [{"file": str(path), "error": f"{path}: {reason}", "exit_code": 3} for path, reason in planned.unreadable]
    if workers > 1:
        import multiprocessing

        threads = max(1, cpu_count // workers)
        # spawn, not fork: a forked child inherits OpenMP's thread pool in a state it cannot use, and hangs in
        # its first parallel operation once the parent has run one
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(codecs, threads)) as pool:
            for result in pool.map(_run_one, tasks):
                results.append(result)
                bar.update()
    else:
        _WORKER["codecs"] = codecs
        for task in tasks:
            results.append(_run_one(task))
            bar.update()
    bar.close()
    ok = [r for r in results if "error" not in r]
    total_bytes = sum(r["bytes"] for r in ok)
    total_pixels = sum(r["pixels"] for r in ok)
    return {
        "files": len(results),
        "succeeded": len(ok),
        "skipped": planned.skipped,
        "failed": [{"file": r["file"], "error": r["error"]} for r in results if "error" in r],
        "total_bytes": total_bytes,
        "mean_bpp": sum(r["bpp"] for r in ok) / len(ok) if ok else None,
        "total_bpp": total_bytes * 8 / total_pixels if total_pixels else None,
        "seconds": time.perf_counter() - start,
        "results": results,
    }
