"""AC-GAN's per-class metrics: class_accuracy_10k on reals and on a generator against a direct computation, and
the one-line errors."""

import keras
import numpy as np
import pytest

from acgan import metrics as _metrics  # noqa: F401  (registers class_accuracy_10k, is50k_classes)
from stylegan2.dataset import ImageDataset
from stylegan2.errors import UserError
from stylegan2.metrics.digit_classifier import classify_stacked
from stylegan2.metrics.runner import MetricContext, run_metrics
from stylegan2.presets import build_networks
from stylegan2.tfrecords import TFRecordExporter


def intensity_classifier():
    """Reads the mean intensity m in [0,1] of a 28x28 digit as class round(9 m): logits 2km/9 - k^2/81."""
    k = np.arange(10, dtype=np.float32)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([(2 * k / 9)[None, :], -(k ** 2) / 81])
    return model


def write_digits(path, intensities, labels):
    """32x32x1 images of constant intensity k/9 (k = intensities), labelled with `labels` (10 classes)."""
    images = np.broadcast_to((np.asarray(intensities) * 255 / 9).round().astype(np.uint8)[:, None, None, None],
                             (len(labels), 1, 32, 32))
    with TFRecordExporter(str(path), len(labels), progress=False) as tfr:
        tfr.add_images(np.ascontiguousarray(images))
        tfr.add_labels(np.eye(10)[labels], label_kind="onehot")
    return ImageDataset(str(path))


def test_class_accuracy_of_reals_counts_the_classifiers_agreement_with_the_labels(tmp_path):
    classes = np.arange(60) % 10
    right = write_digits(tmp_path / "right", classes, classes)
    results = run_metrics(MetricContext(None, right, classifier=intensity_classifier(), batch_size=16),
                          ["class_accuracy_10k"], log=lambda _: None)
    assert results["class_accuracy_10k"] == 1.0 and results["class_accuracy_10k_class3"] == 1.0
    labels = classes.copy()
    labels[classes >= 5] = (classes[classes >= 5] + 1) % 10  # classes 5..9 are labelled one off
    wrong = write_digits(tmp_path / "wrong", classes, labels)
    results = run_metrics(MetricContext(None, wrong, classifier=intensity_classifier(), batch_size=16),
                          ["class_accuracy_10k"], log=lambda _: None)
    assert results["class_accuracy_10k"] == 0.5
    assert "class_accuracy_10k_class5" not in results  # no record is labelled 5
    assert [results.get(f"class_accuracy_10k_class{k}") for k in range(10)] == [0.5, 1, 1, 1, 1, None, 0, 0, 0, 0]


def test_class_accuracy_of_a_generator_equals_a_direct_computation(tmp_path):
    classes = np.arange(20) % 10
    dataset = write_digits(tmp_path / "digits", classes, classes)
    G, _ = build_networks("tiny", 32, 1, c_dim=10)
    classifier = intensity_classifier()
    ctx = MetricContext(G, dataset, classifier=classifier, batch_size=8, num_images=50)
    results = run_metrics(ctx, ["class_accuracy_10k"], log=lambda _: None)
    correct = 0
    for k in range(10):  # 5 fakes of class k: z of a batch of 8 from RandomState(k), the first 5 kept
        z = np.random.RandomState(k).randn(8, G.z_dim).astype(np.float32)
        images = G(z, np.eye(10, dtype=np.float32)[[k] * 8], truncation_psi=1.0)[:5]
        hits = int(np.sum(classify_stacked(classifier, images)[:, 0] == k))
        assert results[f"class_accuracy_10k_class{k}"] == hits / 5
        correct += hits
    assert results["class_accuracy_10k"] == correct / 50


def test_the_one_line_errors(tmp_path):
    classes = np.arange(20) % 10
    dataset = write_digits(tmp_path / "digits", classes, classes)
    G3, _ = build_networks("tiny", 32, 3, c_dim=10)
    with pytest.raises(UserError, match="class_accuracy_10k: needs a 10-class, 1-channel digit generator"):
        run_metrics(MetricContext(G3, dataset, classifier=intensity_classifier(), batch_size=8),
                    ["class_accuracy_10k"], log=lambda _: None)
    G0, _ = build_networks("tiny", 32, 1)
    with pytest.raises(UserError, match="is50k_classes: needs a class-conditional generator"):
        run_metrics(MetricContext(G0, dataset, batch_size=8), ["is50k_classes"], log=lambda _: None)
