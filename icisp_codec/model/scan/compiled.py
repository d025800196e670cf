"""The C++/OpenMP selective scan (selective_scan.cpp), compiled once per machine and cached.

The build is keyed by the source's content, the compiler flags and the torch version, and compiles a copy of
the source kept beside the build: several installs (venvs, checkouts) on one machine share one build instead
of rebuilding each other's. The first build says so on stderr (it takes about a minute); `icisp
build-kernels` does it ahead of use. Without a compiler, `available()` is False, a one-time warning names what
to install, and callers fall back to the pure-PyTorch scan.
"""
import functools
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ...device import cpu_signature

_SOURCE = Path(__file__).with_name("selective_scan.cpp")
_FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math", "-fopenmp"]


def _build_name():
    key = _SOURCE.read_bytes() + " ".join(_FLAGS).encode() + torch.__version__.encode() + cpu_signature().encode()
    return f"icisp_selective_scan_{hashlib.sha256(key).hexdigest()[:12]}"


def _import_built(name, library):
    """The extension module from its built library, as torch's loader imports it after a build."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def _extension():
    import platformdirs

    name = _build_name()
    build_dir = Path(platformdirs.user_cache_dir("icisp")) / "kernels" / name
    library = build_dir / f"{name}.so"
    if library.exists():
        # The name is the source's, the flags' and torch's digest, so an existing build is this source's: import
        # it directly (12 ms) rather than through torch's loader, which imports its build tools and asks ninja
        # whether the build is current (~0.2 s of every command's start).
        try:
            return _import_built(name, library)
        except ImportError:  # half-written by a build in another process: build (or wait for it) below
            pass
    import logging

    # torch warns "No CUDA runtime is found" when this module is imported on a CPU-only machine.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils.cpp_extension import load

    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / "selective_scan.cpp"  # one path for every install: the build is shared
    if not source.exists():
        shutil.copyfile(_SOURCE, source)
    first = not library.exists()
    if first:
        print("icisp: compiling the selective-scan kernel for this machine (once; about a minute)...",
              file=sys.stderr, flush=True)
    start = time.perf_counter()
    module = load(name=name, sources=[str(source)], extra_cflags=_FLAGS, extra_ldflags=["-fopenmp"],
                  build_directory=str(build_dir), verbose=bool(os.environ.get("ICISP_VERBOSE_BUILD")))
    if first:
        print(f"icisp: kernel compiled in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return module


@functools.lru_cache(maxsize=None)
def available() -> bool:
    try:
        _extension()
        return True
    except Exception as exc:  # no compiler, no ninja, or a failed build: the caller falls back
        print(f"icisp: warning: the compiled selective scan is unavailable ({type(exc).__name__}); using the "
              f"slower pure-PyTorch scan (about 3x slower). Install g++ and ninja to compile it.",
              file=sys.stderr, flush=True)
        return False


class _CompiledScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dt, A, B, C, D):
        # The kernel wants B and C as (batch, K, L, N) so the N state values of a step are contiguous.
        args = [t.float().contiguous() for t in (u, dt, A)]
        args += [B.float().transpose(-1, -2).contiguous(), C.float().transpose(-1, -2).contiguous()]
        args.append(D.float().contiguous())
        y, checkpoints = _extension().forward(*args)
        ctx.save_for_backward(*args, checkpoints)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, dt, A, B, C, D, checkpoints = ctx.saved_tensors
        du, ddt, dA, dB, dC, dD = _extension().backward(grad_y.float().contiguous(), u, dt, A, B, C, D, checkpoints)
        return du, ddt, dA, dB.transpose(-1, -2), dC.transpose(-1, -2), dD


def selective_scan_compiled(u, delta, A, B, C, D, delta_bias):
    # softplus in torch: vectorised there, and its gradient comes from autograd.
    dt = F.softplus(delta.float() + delta_bias.float()[:, None])
    return _CompiledScan.apply(u, dt, A, B, C, D)


def ss2d_compiled(x_rows, x_cols, proj_rows, proj_cols, dt_weight, A, D, delta_bias):
    """The four directional scans of SS2D in one call, for inference (no gradient): see ss2d_forward in
    selective_scan.cpp for the layouts."""
    args = [t.float().contiguous() for t in (x_rows, x_cols, proj_rows, proj_cols, dt_weight, A, D, delta_bias)]
    return _extension().ss2d_forward(*args)
