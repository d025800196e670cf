"""compressai's layers and entropy models, without the seconds its package import costs.

`import compressai.layers` first runs compressai/__init__.py, which imports every part of the library: its
point-cloud datasets pull in torch_geometric and with it torch._dynamo (about 5 s on a 2-core machine, beyond
torch itself). icisp uses three of its subpackages, `layers`, `entropy_models` and `ops`, and imports them
only through this module, which first registers the compressai package object without running its __init__, so
those subpackages load from the installed compressai as usual and nothing else does. The first time anything
asks the package for a name that only its __init__ defines (available_entropy_coders, ...), a module-level
__getattr__ (PEP 562) runs the __init__ in place, so code that uses compressai fully still gets all of it; a
submodule asked for by name (`from compressai import ans`) is imported alone. compressai's other subpackages
(datasets, zoo, models, registry, ...) are registered the same way, so its __init__ binds them without running
them: each runs when first used.

compressai.entropy_models imports scipy.stats at the top for one function (GaussianConditional's quantiles in
`update()`, which icisp never calls: it builds its own integer tables). scipy.stats is registered the same
way: its __init__ runs the first time anyone uses a name from it.

Why this stays correct when compressai changes: nothing of compressai is copied or patched; its modules run
unchanged. If a future compressai submodule needs a name from the package's __init__ at import time, the
__getattr__ hook runs the __init__ then, exactly as a normal import would have.
"""
import importlib.util
import sys


def _package_without_init(name):
    """Register package `name` with its __path__ but without running its __init__: that runs, in place, the
    first time a name is asked of the package that it does not have yet."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    package = importlib.util.module_from_spec(spec)
    state = {"initialised": False}

    def __getattr__(attribute):
        if importlib.util.find_spec(f"{name}.{attribute}") is not None:  # a submodule: just that
            return importlib.import_module(f"{name}.{attribute}")
        if state["initialised"]:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        state["initialised"] = True
        spec.loader.exec_module(package)  # the real __init__, in place
        return getattr(package, attribute)

    package.__getattr__ = __getattr__
    sys.modules[name] = package


# The compressai subpackages icisp uses; every other one is registered without running its __init__.
USED = ("layers", "entropy_models", "ops")


def prepare():
    _package_without_init("scipy.stats")
    if "compressai" in sys.modules:
        return
    _package_without_init("compressai")
    import pkgutil

    for part in pkgutil.iter_modules(sys.modules["compressai"].__path__):
        if part.ispkg and part.name not in USED:
            _package_without_init(f"compressai.{part.name}")


prepare()

from compressai.entropy_models import EntropyBottleneck, GaussianConditional  # noqa: E402
from compressai.layers import ResidualBlockUpsample, ResidualBlockWithStride, conv3x3, subpel_conv3x3  # noqa: E402
from compressai.ops import quantize_ste  # noqa: E402

# compressai's default coder, named so that building an entropy model does not ask the package's __init__
ENTROPY_CODER = "ans"


# Likelihoods of values that are already rounded, with gradients to those values. compressai's forward rounds
# its input itself (noise in training), which gives no gradient to it; the encoder's latent search
# (model/latent_search.py) differentiates the rate of exactly the symbols it will code. These are the one
# place icisp calls compressai's `_likelihood` (stable across compressai 1.2.x: (inputs[, scales, means])).

def factorized_likelihood(bottleneck, z_hat):
    """(B, C, H, W) likelihoods of z_hat under an EntropyBottleneck (which wants (C, 1, N) values)."""
    b, c, h, w = z_hat.shape
    likelihood = bottleneck._likelihood(z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1))[0]
    likelihood = bottleneck.likelihood_lower_bound(likelihood)
    return likelihood.reshape(c, b, h, w).permute(1, 0, 2, 3)


def gaussian_likelihood(conditional, y_hat, scales, means):
    """Likelihoods of y_hat under a GaussianConditional (scales lower-bounded as in coding)."""
    return conditional.likelihood_lower_bound(conditional._likelihood(y_hat, scales, means))


__all__ = ["ENTROPY_CODER", "EntropyBottleneck", "GaussianConditional", "ResidualBlockUpsample",
           "ResidualBlockWithStride", "conv3x3", "factorized_likelihood", "gaussian_likelihood", "quantize_ste",
           "subpel_conv3x3"]
