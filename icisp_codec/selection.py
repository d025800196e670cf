"""Which weights code an image: chosen by a weights name or path and the rate when encoding, by the file's
weights id when decoding. Each weights file is loaded once per process (folder runs and the Pillow plugin
reuse it).

    codecs = Codecs("paper")                 # every installed paper model; None: lite to encode
    data, report = codecs.for_rate(2.5).encode(rgb, 2.5)
    rgb, report = codecs.for_file(parse(data)).decode(data)
"""
import math
import time

from .errors import ModelError, UsageError
from .model.config import check_lambda
from .weights import candidates, catalog, find_by_id, resolve


class Codecs:
    def __init__(self, weights=None, device="auto", **options):
        """weights: the --weights value (a name or a path; None: the default model when encoding, the file's
        own weights when decoding); options: Codec.load's."""
        self.weights, self.device, self.options = weights, device, options
        if weights:
            candidates(weights)  # a --weights value that names nothing is refused before any work
        self._loaded = {}
        self.load_seconds = 0.0
        self.last = None  # the codec most recently handed out

    def __getstate__(self):  # worker processes load their own codecs
        return {**self.__dict__, "_loaded": {}, "last": None}

    def load(self, path):
        from .codec import Codec

        if path not in self._loaded:
            start = time.perf_counter()
            self._loaded[path] = Codec.load(path, self.device, **self.options)
            self.load_seconds += time.perf_counter() - start
        self.last = self._loaded[path]
        return self.last

    def for_rate(self, lam):
        """The codec for rate weight λ: the named variable-rate model, or the fixed-rate model of that λ."""
        found = candidates(self.weights)
        for entry in found:
            try:
                check_lambda(lam, entry.lambda_range)
                return self.load(entry.path)
            except ValueError:
                continue
        have = ", ".join(f"{lo:g}" if lo == hi else f"[{lo:g}, {hi:g}]" for lo, hi in (e.lambda_range for e in found))
        raise UsageError(f"no {self.weights or 'lite'!r} model codes λ={lam:g}; the ones there code λ = {have}")

    def for_search(self):
        """Every codec a size target may choose from, ordered by λ."""
        return [self.load(entry.path) for entry in candidates(self.weights)]

    def lambda_for_quality(self, quality):
        """--quality 0-100 -> λ, log-linear over the named weights' λ range (100: the smallest λ, the most
        bytes); among fixed-rate models, the nearest of their λs in log."""
        found = candidates(self.weights)
        lo = min(e.lambda_range[0] for e in found)
        hi = max(e.lambda_range[1] for e in found)
        lam = math.exp(math.log(hi) + (math.log(lo) - math.log(hi)) * quality / 100)
        if len(found) > 1:
            lam = min((e.lambda_range[0] for e in found), key=lambda x: abs(math.log(x / lam)))
        return float(f"{lam:.6g}")

    def for_file(self, header):
        """The codec that made a file: --weights if given (a mismatch is refused by the decoder), else the
        shipped or installed weights with the file's id."""
        if self.weights:
            return self.load(resolve(self.weights))
        path = find_by_id(header.weights_id)
        if path is None:
            have = ", ".join(f"{e.name} ({e.id.hex()})" for e in catalog()) or "none"
            raise ModelError(f"the file needs weights {header.weights_id.hex()} (model {header.model!r}), which "
                             f"are not installed (have: {have}); `icisp convert-weights` installs the authors' "
                             f"models")
        return self.load(path)
