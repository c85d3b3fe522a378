"""The numpy metrics the device evaluates with, checked against values worked out by hand."""

import numpy as np
import pytest

from galaxy_edge.metrics import binary_auc, classification_report, macro_ovr_auc

pytestmark = pytest.mark.device


def test_auc_of_perfect_reversed_and_tied_rankings():
    positive = np.array([0, 0, 1, 1], dtype=bool)
    assert binary_auc(positive, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert binary_auc(positive, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert binary_auc(positive, [0.5, 0.5, 0.5, 0.5]) == 0.5
    # One positive ranked below one negative of two: 3 of 4 pairs in order.
    assert binary_auc(positive, [0.1, 0.6, 0.5, 0.9]) == 0.75


def test_auc_is_undefined_for_one_class():
    assert binary_auc(np.ones(3, dtype=bool), [0.1, 0.2, 0.3]) is None
    labels = np.array([0, 0])
    assert macro_ovr_auc(labels, np.array([[0.9, 0.1], [0.8, 0.2]])) is None


def test_report_counts_precision_recall_and_confusion():
    labels = np.array([0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 0]]
    rep = classification_report(labels, probs, ["a", "b", "c"])
    assert rep["n"] == 5 and rep["accuracy"] == 0.6
    assert rep["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert rep["per_class"]["a"]["precision"] == 0.5 and rep["per_class"]["a"]["recall"] == 0.5
    assert rep["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and rep["per_class"]["b"]["recall"] == 1.0
    assert rep["per_class"]["c"]["precision"] is None and rep["per_class"]["c"]["recall"] == 0.0
