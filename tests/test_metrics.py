"""Scene metrics against scikit-learn on the same predictions."""
import numpy as np
import pytest

from avsc_edge.labels import SCENES
from avsc_edge.plots import plot_confusion
from avsc_edge.metrics import scene_metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_metrics_match_sklearn(rng):
    n = 137
    logits = rng.normal(size=(n, 10)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 10, n)
    m = scene_metrics(probs, labels, SCENES)
    assert m.accuracy == pytest.approx(sklearn_metrics.accuracy_score(labels, probs.argmax(1)))
    assert m.log_loss == pytest.approx(sklearn_metrics.log_loss(labels, probs, labels=list(range(10))), rel=1e-9)
    cm = sklearn_metrics.confusion_matrix(labels, probs.argmax(1), labels=list(range(10)))
    assert np.array_equal(np.array(m.confusion), cm)
    recall = sklearn_metrics.recall_score(labels, probs.argmax(1), labels=list(range(10)), average=None, zero_division=0)
    for c, name in enumerate(SCENES):
        if (labels == c).any():
            assert m.class_accuracy[name] == pytest.approx(recall[c])


def test_log_loss_clips_certain_mistakes():
    probs = np.eye(10)[[1, 2]]
    m = scene_metrics(probs, np.array([0, 2]), SCENES)
    assert np.isfinite(m.log_loss) and m.log_loss > 10


def test_confusion_png(tmp_path):
    path = tmp_path / "cm.png"
    plot_confusion(np.eye(10, dtype=int).tolist(), SCENES, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
