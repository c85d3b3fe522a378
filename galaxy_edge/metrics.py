"""Classification metrics in plain numpy, so the device can evaluate a model without scikit-learn."""

import numpy as np


def confusion_matrix(labels, predicted, n_classes):
    """Rows are true classes, columns predicted classes."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m


def binary_auc(is_positive, scores):
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) statistic; ties count half.

    Returns None when only one class is present, where AUC is undefined.
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    n_pos = int(is_positive.sum())
    n_neg = len(is_positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    u = ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def macro_ovr_auc(labels, probabilities):
    """Mean one-vs-rest AUC over the classes present in `labels` (scikit-learn's macro 'ovr')."""
    aucs = [binary_auc(np.asarray(labels) == k, probabilities[:, k]) for k in range(probabilities.shape[1])]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else None


def classification_report(labels, probabilities, class_names):
    """Accuracy, macro one-vs-rest AUC, per-class precision/recall/support and the confusion matrix.

    Args:
        labels: (N,) true class indices.
        probabilities: (N, C) class probabilities.
        class_names: C names, in index order.

    Returns:
        A JSON-ready dict.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    n_classes = len(class_names)
    cm = confusion_matrix(labels, predicted, n_classes)
    per_class = {}
    for k, name in enumerate(class_names):
        tp = int(cm[k, k])
        predicted_k, support = int(cm[:, k].sum()), int(cm[k, :].sum())
        per_class[name] = {
            "precision": tp / predicted_k if predicted_k else None,
            "recall": tp / support if support else None,
            "support": support,
            "auc": binary_auc(labels == k, probabilities[:, k]),
        }
    return {
        "n": int(len(labels)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else None,
        "auc": macro_ovr_auc(labels, probabilities),
        "class_names": list(class_names),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def _average_ranks(x):
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    # Tied scores share the mean of their ranks.
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]
