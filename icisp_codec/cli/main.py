"""The `icisp` console script: the command group (app.py) with every command registered. The commands are
thin layers over the library, by area: coding.py (encode, decode, info), models.py (models, setup,
convert-weights, export), evaluation.py (eval, bench, report) and training.py (train, train-plot)."""
from . import coding, evaluation, models, training  # noqa: F401  (importing a module registers its commands)
from .app import cli

__all__ = ["cli", "main"]


# glibc's malloc hands blocks above its mmap threshold back to the kernel when freed and maps fresh zeroed
# pages for the next one, so each large tensor of a transform costs page faults again. Raised thresholds keep
# freed memory in the heap for reuse (tensors beyond 32 MiB, glibc's largest threshold, are still mapped); one
# arena, because the decoder's band threads would otherwise each get an arena that gives memory back the same way.
MALLOC_SETTINGS = {-3: 32 * 2**20, -1: 2**30, -8: 1}  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_ARENA_MAX


def _keep_freed_memory():
    """This process's malloc tuned for tensors (glibc only; elsewhere nothing changes) -> whether every
    setting took."""
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the symbols the process already has
    # a list, not a generator: every setting is applied even after one is refused
    return bool(mallopt) and all([mallopt(parameter, value) == 1 for parameter, value in MALLOC_SETTINGS.items()])


def main():
    import warnings

    _keep_freed_memory()
    # compressai's import calls the deprecated torch.jit.script: not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    cli(obj={})


if __name__ == "__main__":
    main()
