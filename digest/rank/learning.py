"""The learned models, as plain functions of sparse matrices: a linear SVM per phrase
(pseudo-labels from the store) and per reader with liked papers (arxiv-sanity-lite's recipe).
The corpus caches them; nothing here knows a reader or a ranking run."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from digest.rank.calibration import MIN_CALIBRATION, calibrated

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# SVM regularisation for liked papers (few and precise, as arxiv-sanity-lite uses) and for the
# per-phrase models (pseudo-labels: the store papers a phrase's BM25 ranks highest).
SEED_C = 0.01
PHRASE_C = 0.1
PSEUDO_POSITIVES = 20
# Cosine at which two texts are one paper (the same title and abstract, up to small edits).
SAME_PAPER = 0.95


def fit_svm(features: csr_matrix, labels: np.ndarray, c: float) -> Any:
    """A linear SVM on `features` (float64, canonical CSR: sklearn would otherwise convert a
    copy on every fit). Called from worker threads: the caller silences ConvergenceWarning
    around all of them (warning filters are the process's, not a thread's)."""
    import sklearn
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, class_weight="balanced", max_iter=2000, random_state=0)
    # The matrix is ours and finite: skip sklearn's checks (its settings are per thread).
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return svm.fit(features, labels)


def svm_ready(matrix: csr_matrix) -> csr_matrix:
    """`matrix` as LinearSVC fits on it without copying: float64, sorted, no duplicates."""
    ready: csr_matrix = matrix.astype(np.float64)
    ready.sum_duplicates()
    ready.sort_indices()
    return ready


@contextlib.contextmanager
def no_convergence_warnings() -> Iterator[None]:
    """Around SVM fits: liblinear's ConvergenceWarning is silenced, as each fit did before.
    Warning filters are the process's: fits in worker threads are covered by the block that
    starts them."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def phrase_model(store: csr_matrix, candidates: csr_matrix, scores: np.ndarray) -> np.ndarray:
    """One phrase's SVM scores of the candidates: the PSEUDO_POSITIVES store papers its BM25
    `scores` (on the store) rank highest against the rest of the store, the candidates read in
    standard deviations above the store's. `store` as svm_ready gives it."""
    n_store, n_candidates = store.shape[0], candidates.shape[0]
    top = np.argsort(-scores, kind="stable")[:PSEUDO_POSITIVES]
    top = top[scores[top] > 0]
    if len(top) < 2 or len(top) == n_store or not n_candidates:
        return np.zeros(n_candidates)
    labels = np.zeros(n_store)
    labels[top] = 1
    svm = fit_svm(store, labels, PHRASE_C)
    known = np.asarray(svm.decision_function(store), dtype=np.float64)
    found = np.asarray(svm.decision_function(candidates), dtype=np.float64)
    result: np.ndarray = (found - known.mean()) / (float(known.std()) or 1.0)
    return result


def liked_model(
    liked: csr_matrix, candidates: csr_matrix, store: csr_matrix | None
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence in bar units, index of the most similar liked paper) per candidate: a
    linear SVM with the liked papers as positives and the store's other papers (else the
    candidates) as negatives, as arxiv-sanity-lite does, calibrated on those negatives."""
    from scipy.sparse import vstack

    nearest = (candidates @ liked.T).toarray().argmax(axis=1)
    background = store
    if background is not None and background.shape[0]:
        # A liked paper the store also holds is a positive, never a negative as well.
        copies = (background @ liked.T).max(axis=1).toarray().ravel() >= SAME_PAPER
        if copies.any():
            background = background[np.flatnonzero(~copies)]
    if background is None or background.shape[0] < MIN_CALIBRATION:
        background = candidates if background is None else vstack([background, candidates])
    features = vstack([liked, background])
    labels = np.r_[np.ones(liked.shape[0]), np.zeros(background.shape[0])]
    with no_convergence_warnings():
        svm = fit_svm(features, labels, SEED_C)
    reference = np.asarray(svm.decision_function(background), dtype=np.float64)
    scores = np.asarray(svm.decision_function(candidates), dtype=np.float64)
    return calibrated(scores, reference), nearest
