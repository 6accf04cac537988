"""Probability calibration and decision thresholds, fitted on held-out (out-of-fold) scores.

``fit_scaling`` is Platt scaling generalised to ``k`` classes (one shared scale, one bias per
class), fitted by L-BFGS on Platt's smoothed targets; it keeps the ranking of the scores, so the
ROC and PR curves are unchanged, and is stored as a scale and ``k`` biases. ``softmax`` maps
scaled logits to probabilities; ``best_f1_threshold`` picks the threshold maximising F1.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_f1_threshold", "fit_scaling", "softmax"]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, k)`` logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_scaling(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Fit ``softmax(scale * logits + bias)`` to ``y`` (Platt scaling, generalised to k classes).

    The targets are Platt's smoothed ones (a class of ``n_c`` rows gets ``(n_c + 1) /
    (n_c + k)`` on itself), which keeps the scale finite when the scores separate the classes.
    ``bias[0]`` is 0.
    """
    from scipy.optimize import minimize

    n, k = logits.shape
    counts = np.bincount(y, minlength=k).astype(np.float64)
    soft = np.repeat((1.0 / (counts + k))[y][:, None], k, axis=1)
    soft[np.arange(n), y] = ((counts + 1.0) / (counts + k))[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        bias = np.r_[0.0, theta[1:]]
        s = theta[0] * logits + bias
        s = s - s.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        grad_s = (np.exp(log_p) - soft) / n
        grad = np.r_[float((grad_s * logits).sum()), grad_s.sum(axis=0)[1:]]
        return float(-(soft * log_p).sum() / n), grad

    start = np.r_[1.0, np.zeros(k - 1)]
    bounds = [(1e-3, 1e3)] + [(None, None)] * (k - 1)
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
    return float(fitted[0]), np.r_[0.0, fitted[1:]]


def best_f1_threshold(truth: np.ndarray, p: np.ndarray) -> float:
    """The threshold on ``p`` (predict positive when ``p >= t``) with the highest F1."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(truth, p)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return float(thresholds[int(np.argmax(f1[:-1]))])
