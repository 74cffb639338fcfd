"""AC-GAN's per-class metrics: class_accuracy_10k on reals and on a generator against a direct computation, and
the one-line errors."""

import keras
import numpy as np
import pytest

from acgan import metrics as _metrics  # noqa: F401  (registers class_accuracy_10k, is50k_classes, msssim_classes)
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


def np_ssim_terms(x, y, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Wang et al.'s SSIM terms of two [H,W] images in [0,1] over valid 11x11 Gaussian windows: (luminance * cs
    mean, cs mean)."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-coords ** 2 / (2 * sigma ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def filt(a):
        views = np.lib.stride_tricks.sliding_window_view(a, (size, size))
        return np.einsum("ijkl,kl->ij", views, window)

    c1, c2 = k1 ** 2, k2 ** 2
    mx, my = filt(x), filt(y)
    vx, vy, cov = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
    lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
    cs = (2 * cov + c2) / (vx + vy + c2)
    return (lum * cs).mean(), cs.mean()


def np_msssim(x, y, weights):
    """MS-SSIM (Wang, Simoncelli & Bovik 2003): cs at each scale but the last, SSIM at the last, 2x2 average pooling
    between scales; weights summing to 1."""
    terms = []
    for level, w in enumerate(weights):
        if level:
            x = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).mean(axis=(1, 3))
            y = y.reshape(y.shape[0] // 2, 2, y.shape[1] // 2, 2).mean(axis=(1, 3))
        ssim, cs = np_ssim_terms(x, y)
        terms.append(max(ssim if level == len(weights) - 1 else cs, 0.0) ** w)
    return np.prod(terms)


def test_msssim_weights_fit_the_image():
    w = np.asarray([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    np.testing.assert_allclose(_metrics.msssim_weights(32), w[:2] / w[:2].sum())
    np.testing.assert_allclose(_metrics.msssim_weights(128), w[:4] / w[:4].sum())
    np.testing.assert_allclose(_metrics.msssim_weights(1024), w / w.sum())  # the published weights sum to 1.0001
    with pytest.raises(UserError, match="msssim: images of 8 px are smaller than the 11 px SSIM filter"):
        _metrics.msssim_weights(8)


def test_msssim_of_reals_equals_a_numpy_msssim_of_each_classes_pairs(tmp_path):
    rnd = np.random.RandomState(0)
    smooth = rnd.rand(7, 1, 8, 8).repeat(4, axis=2).repeat(4, axis=3)  # blocky images, so SSIM is not ~0
    images = (np.clip(smooth + 0.2 * rnd.rand(7, 1, 32, 32), 0, 1) * 255).round().astype(np.uint8)
    images[2] = images[0]  # class 0's pairs: (0, 2) identical, (4, 6) different; class 1: (1, 3); 5 has no pair
    labels = np.array([0, 1, 0, 1, 0, 1, 0])
    with TFRecordExporter(str(tmp_path / "d"), 7, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(np.eye(10)[labels], label_kind="onehot")
    results = run_metrics(MetricContext(None, ImageDataset(str(tmp_path / "d")), batch_size=3, num_images=4),
                          ["msssim_classes"], log=lambda _: None)
    x = images[:, 0].astype(np.float64) / 255
    weights = _metrics.msssim_weights(32)
    want0 = (1.0 + np_msssim(x[4], x[6], weights)) / 2
    want1 = np_msssim(x[1], x[3], weights)
    assert 0.05 < want1 < 0.95  # a value that tells a wrong formula apart
    np.testing.assert_allclose(results["msssim_classes_class0"], want0, rtol=1e-4)
    np.testing.assert_allclose(results["msssim_classes_class1"], want1, rtol=1e-4)
    np.testing.assert_allclose(results["msssim_classes"], (want0 + want1) / 2, rtol=1e-4)
    assert "msssim_classes_class2" not in results
