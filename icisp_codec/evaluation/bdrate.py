"""Bjøntegaard delta rate with monotone piecewise-cubic (PCHIP) interpolation of log-rate over quality.

BD-rate(test vs anchor) = exp(mean over the overlapping quality range of [log R_test(q) - log R_anchor(q)]) - 1,
the mean taken as an integral of the two PCHIP curves (each fitted on points sorted by quality) divided by
the range. Negative: the test codec needs fewer bits for the same quality. For metrics where lower is better
(LPIPS-HED) quality is negated so that "higher is better" holds throughout.
"""
import math

import numpy as np


def _curve(rates, qualities):
    from scipy.interpolate import PchipInterpolator

    q = np.asarray(qualities, dtype=np.float64)
    r = np.log(np.asarray(rates, dtype=np.float64))
    order = np.argsort(q)
    q, r = q[order], r[order]
    keep = np.concatenate([[True], np.diff(q) > 0])  # PCHIP needs strictly increasing abscissae
    return PchipInterpolator(q[keep], r[keep]), q[keep].min(), q[keep].max()


def bd_rate(anchor_rates, anchor_quality, test_rates, test_quality, lower_is_better=False):
    """Returns (bd_rate_fraction, (q_low, q_high)) or (nan, None) when the curves do not overlap."""
    sign = -1.0 if lower_is_better else 1.0
    fa, lo_a, hi_a = _curve(anchor_rates, sign * np.asarray(anchor_quality, dtype=np.float64))
    ft, lo_t, hi_t = _curve(test_rates, sign * np.asarray(test_quality, dtype=np.float64))
    lo, hi = max(lo_a, lo_t), min(hi_a, hi_t)
    if not hi > lo:
        return math.nan, None
    diff = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    q_range = (sign * lo, sign * hi) if sign > 0 else (sign * hi, sign * lo)
    return math.exp(diff) - 1, q_range


def curve_points(doc, metric, max_bpp=None, min_bpp=None):
    """Mean (file bpp, metric) per setting from a results document, optionally restricted in bpp."""
    points = [(row["file_bpp"], row[metric]) for row in doc["summary"] if row.get(metric) is not None]
    points = [(r, q) for r, q in points if (max_bpp is None or r <= max_bpp) and (min_bpp is None or r >= min_bpp)]
    return sorted(points)
