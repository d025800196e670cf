"""Where the networks run and in which precision: one policy for coding and training."""
import contextlib
import functools
import hashlib
import json
import os
import platform

import torch

from .errors import UsageError


def resolve_device(device="auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return torch.device(device)


def native_bf16(device) -> bool:
    """Whether bf16 autocast speeds the networks up on this device. On CPUs it only pays with native bf16
    (AVX-512 BF16 / AMX: a 1.45x faster training step on an AMD Zen 5); on an AVX2-only AMD EPYC emulated bf16
    was 40x slower than fp32 (forward of 8x128² through `lite`: 22 s vs 0.5 s; a 512² encode 23x)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def use_bf16(requested, device) -> bool:
    """The bf16 setting to use: the caller's choice, or (None) whether this device computes bf16 natively."""
    return native_bf16(device) if requested is None else bool(requested)


@contextlib.contextmanager
def torch_threads(count):
    """Run a block with a fixed number of intra-op threads (None or 0: leave as is)."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@functools.lru_cache(maxsize=None)
def cpu_signature() -> str:
    """What identifies this kind of CPU and software for cached machine-specific choices (a compiled kernel,
    the fastest exact product): the instruction-set flags, the machine type and the torch version."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = platform.processor()
    key = f"{platform.machine()} {torch.__version__} {flags}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cached_choice(name, compute):
    """A machine-specific choice, measured once per kind of CPU (cpu_signature) and kept in the per-user
    cache; compute() -> a JSON-able value."""
    import platformdirs

    path = platformdirs.user_cache_path("icisp") / "choices.json"
    try:
        choices = json.loads(path.read_text())
    except (OSError, ValueError):
        choices = {}
    key = f"{name}:{cpu_signature()}"
    if key not in choices:
        choices[key] = compute()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(choices, indent=1))
            tmp.replace(path)
        except OSError:
            pass  # an unwritable cache only costs the measurement next time
    return choices[key]
