"""Rate control: the λ (and, among fixed-rate models, the model) whose file comes closest to a size.

The ends of the range are tried first, so an unreachable target is answered after at most two encodes;
in between, one variable-rate model is searched by bisection on log λ (files shrink as λ grows), several
fixed-rate models by binary search over their λs. The report's time is the whole search's.
"""
import math
import time

from ..errors import UsageError

ITERATIONS = 10
MISS_TOLERANCE = 0.05  # a file further than this from its target (not --strict) earns a warning


class _Search:
    def __init__(self, rgb, target, options):
        self.rgb, self.target, self.options = rgb, target, options
        self.tried = []  # (size, λ, data, report) in the order tried

    def attempt(self, codec, lam):
        data, report = codec.encode(self.rgb, lam, **self.options)
        self.tried.append((len(data), report.lam, data, report))
        return len(data)

    def best(self, strict):
        fitting = [t for t in self.tried if t[0] <= self.target]
        if strict:
            return max(fitting, key=lambda t: t[0]) if fitting else None
        return min(self.tried, key=lambda t: (abs(t[0] - self.target), -t[0]))


def _bisect(search, codec, iterations):
    lo, hi = codec.lambda_range
    if search.attempt(codec, hi) > search.target or search.attempt(codec, lo) <= search.target:
        return  # the target is outside what this model makes: its ends are the answers
    a, b = math.log(lo), math.log(hi)
    for _ in range(iterations - 2):
        lam = math.exp((a + b) / 2)
        if search.attempt(codec, lam) > search.target:
            a = math.log(lam)
        else:
            b = math.log(lam)


def _binary_search(search, codecs):
    """codecs ordered by λ, so by falling file size: find where the sizes cross the target."""
    first, last = 0, len(codecs) - 1
    if search.attempt(codecs[last], codecs[last].lambda_range[0]) > search.target:
        return
    while first < last:
        middle = (first + last) // 2
        if search.attempt(codecs[middle], codecs[middle].lambda_range[0]) <= search.target:
            last = middle
        else:
            first = middle + 1
    if not any(t[1] == codecs[first].lambda_range[0] for t in search.tried):
        search.attempt(codecs[first], codecs[first].lambda_range[0])


def encode_to_size(codecs, rgb, target_bytes, strict=False, iterations=ITERATIONS, **options):
    """-> (data, report): the file closest to target_bytes, or with strict the largest that does not exceed
    it (UsageError when even the smallest file is larger). codecs: one variable-rate codec, or fixed-rate
    codecs ordered by λ."""
    start = time.perf_counter()
    search = _Search(rgb, target_bytes, options)
    if len(codecs) == 1:
        _bisect(search, codecs[0], iterations)
    else:
        _binary_search(search, codecs)
    chosen = search.best(strict)
    smallest = min(search.tried, key=lambda t: t[0])
    if chosen is None:
        raise UsageError(f"cannot reach {target_bytes} bytes: the smallest file (λ={smallest[1]:g}) has "
                         f"{smallest[0]} bytes{_metadata_note(options)}")
    size, lam, data, report = chosen
    report.seconds = time.perf_counter() - start
    report.notices.append(f"rate control chose λ={lam:.4g} after {len(search.tried)} trial encodes "
                          f"({report.seconds:.1f} s)")
    miss = size / target_bytes - 1
    if abs(miss) > MISS_TOLERANCE and not strict:
        largest = max(search.tried, key=lambda t: t[0])
        if size > target_bytes:
            reason = f"the smallest file this model makes (λ={smallest[1]:g}) has {smallest[0]} bytes"
        elif chosen is largest:
            reason = f"the largest file this model makes (λ={largest[1]:g}) has {largest[0]} bytes"
        else:
            reason = "the file sizes of neighbouring λ straddle it"
        report.warnings.append(f"target of {target_bytes} bytes missed by {miss:+.0%} ({size} bytes): "
                               f"{reason}{_metadata_note(options)}")
    return data, report


def _metadata_note(options):
    metadata = sum(len(v) for v in (options.get("metadata") or {}).values())
    return f"; {metadata} bytes of each file are metadata (--strip drops them)" if metadata else ""
