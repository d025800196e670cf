"""The `icisp` console script: the command group (app.py) with every command registered. The commands are
thin layers over the library, by area: coding.py (encode, decode, info), models.py (models, setup,
convert-weights, export), evaluation.py (eval, bench, report) and training.py (train, train-plot)."""
from . import coding, evaluation, models, training  # noqa: F401  (importing a module registers its commands)
from .app import cli

__all__ = ["cli", "main"]


def main():
    import warnings

    # compressai's import calls the deprecated torch.jit.script: not the user's concern.
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    cli(obj={})


if __name__ == "__main__":
    main()
