"""Calibration on the store: a score read in units of the bar only the store's best papers
reach, so that every signal (a phrase's BM25, a reader's liked papers, their taps) speaks the
same unit and one bar admits across readers."""

from __future__ import annotations

import numpy as np

# A paper clears a phrase's bar when it scores like the top SELECTIVITY of the store's papers
# (measured: `digest eval` shows ~6 papers a day per topic at 0.41 precision, against 0.34 for
# the top 10 whatever they score).
SELECTIVITY = 0.01
# With fewer store papers than this, the candidates join the calibration sample.
MIN_CALIBRATION = 200


def calibrated(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`scores` in units of the bar the top SELECTIVITY of `reference` reaches, measured from
    the reference's median (so 0 = an ordinary paper, 1 = the bar). A rare phrase, which most
    papers score 0 on, has its bar at least at the upper quartile of those that score at all. A
    sample
    smaller than MIN_CALIBRATION cannot say what is unusual: there the unit is simply the median
    of the scores above zero."""
    if len(reference) == 0:
        return np.zeros_like(scores)
    if len(reference) < MIN_CALIBRATION:
        return _in_positive_medians(scores, reference)
    median = float(np.median(reference))
    bar = float(np.quantile(reference, 1 - SELECTIVITY))
    positive = reference[reference > median]
    if len(positive):
        bar = max(bar, float(np.quantile(positive, 0.75)))
    if bar <= median:
        # Nothing in the store scores at all (a phrase new to it): the scores set their own
        # unit, as a small sample does.
        return _in_positive_medians(scores, scores)
    result: np.ndarray = (scores - median) / (bar - median)
    return result


def _in_positive_medians(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`scores` in units of the median of the reference's scores above zero."""
    positive = reference[reference > 0]
    unit = float(np.median(positive)) if len(positive) else 0.0
    return scores / unit if unit > 0 else np.zeros_like(scores)
