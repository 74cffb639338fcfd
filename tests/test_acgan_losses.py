"""AC-GAN's loss terms (acgan.losses) against NumPy, and the legacy flag against the original's PyTorch values."""

import numpy as np
import pytest
import tensorflow as tf

from acgan import losses

RNG = np.random.RandomState(0)
SOURCE = RNG.randn(6, 1).astype(np.float32) * 3  # moderate logits (sigmoid does not round to 0 or 1)
CLASSES = RNG.randn(6, 4).astype(np.float32) * 2
LABELS = np.eye(4, dtype=np.float32)[[0, 3, 1, 1, 2, 0]]


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_cross_entropy(logits, onehot):
    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return log_z - (logits * onehot).sum(axis=1)


def np_softmax(logits):
    e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_bce_on_sigmoid(logits, target):
    """torch.nn.BCELoss(nn.Sigmoid()(x), target) per sample: -(t max(log p, -100) + (1-t) max(log(1-p), -100))."""
    with np.errstate(divide="ignore", over="ignore"):
        p = 1.0 / (1.0 + np.exp(-logits.astype(np.float32)))
        log_p, log_q = np.maximum(np.log(p), -100.0), np.maximum(np.log(np.float32(1.0) - p), -100.0)
    return -(target * log_p + (1 - target) * log_q).reshape(-1)


def test_source_and_class_terms_equal_numpy():
    np.testing.assert_allclose(losses.source_loss(tf.constant(SOURCE), real=True), np_softplus(-SOURCE[:, 0]),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.source_loss(tf.constant(SOURCE), real=False), np_softplus(SOURCE[:, 0]),
                               rtol=1e-6)
    np.testing.assert_allclose(losses.class_loss(tf.constant(CLASSES), LABELS), np_cross_entropy(CLASSES, LABELS),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.accuracy(tf.constant(CLASSES), LABELS),
                               (CLASSES.argmax(1) == LABELS.argmax(1)).astype(np.float32))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.5, 2.0, 0.25)])
def test_d_and_g_losses_equal_the_hand_computation(weights):
    w_real, w_fake, w_g = weights
    real_s, fake_s = SOURCE[:3], SOURCE[3:]
    real_l, fake_l = CLASSES[:3], CLASSES[3:]
    y, c = LABELS[:3], LABELS[3:]
    d, terms = losses.d_loss(real_s, real_l, y, fake_s, fake_l, c, w_real, w_fake)
    expected = (np_softplus(-real_s[:, 0]) + np_softplus(fake_s[:, 0]) + w_real * np_cross_entropy(real_l, y)
                + w_fake * np_cross_entropy(fake_l, c))
    np.testing.assert_allclose(d, expected, rtol=1e-5)
    np.testing.assert_allclose(terms["aux_fake"], np_cross_entropy(fake_l, c), rtol=1e-5)
    g, terms = losses.g_loss(fake_s, fake_l, c, w_g)
    np.testing.assert_allclose(g, np_softplus(-fake_s[:, 0]) + w_g * np_cross_entropy(fake_l, c), rtol=1e-5)
    np.testing.assert_allclose(terms["source"], np_softplus(-fake_s[:, 0]), rtol=1e-6)


def test_legacy_reproduces_the_originals_bce_on_sigmoid_and_nll_on_softmax():
    """The original's errD_real + errD_fake and errG (main.py), per sample, in NumPy: BCELoss on sigmoid outputs,
    NLLLoss on softmax probabilities (= -p_y); including logits whose float32 sigmoid is exactly 1 (clamped 100)."""
    source = np.concatenate([SOURCE, [[30.0], [-120.0]]]).astype(np.float32)
    classes = np.concatenate([CLASSES, CLASSES[:2]])
    labels = np.concatenate([LABELS, LABELS[:2]])
    got, _ = losses.d_loss(source, classes, labels, source, classes, labels, legacy=True)
    p_y = (np_softmax(classes) * labels).sum(1)
    expected = np_bce_on_sigmoid(source, 1.0) + np_bce_on_sigmoid(source, 0.0) - 2 * p_y
    assert np_bce_on_sigmoid(source, 0.0)[-2] == 100.0  # sigmoid(30) == 1.0 in float32: BCELoss's clamp
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    got, _ = losses.g_loss(source, classes, labels, legacy=True)
    np.testing.assert_allclose(got, np_bce_on_sigmoid(source, 1.0) - p_y, rtol=1e-5)
    # Not the cross-entropy: the bug is reproduced, not fixed.
    assert not np.allclose(losses.class_loss(tf.constant(CLASSES), LABELS, legacy=True),
                           np_cross_entropy(CLASSES, LABELS), rtol=1e-2)


def test_legacy_values_equal_pytorchs_on_the_same_logits():
    """The means torch 2.13.0 printed for the original's criteria on these logits:

        p, probs = nn.Sigmoid()(s).view(-1, 1).squeeze(1), nn.Softmax(dim=1)(l)     # network.py's outputs
        nn.BCELoss()(p, torch.ones(6)), nn.BCELoss()(p, torch.zeros(6)), nn.NLLLoss()(probs, y)   # main.py's
    """
    s = tf.constant(TORCH_SOURCE)
    l = tf.constant(TORCH_CLASSES)
    y = np.eye(4, dtype=np.float32)[TORCH_LABELS]
    np.testing.assert_allclose(float(tf.reduce_mean(losses.source_loss(s, True, legacy=True))), TORCH_BCE_REAL,
                               rtol=1e-5)
    np.testing.assert_allclose(float(tf.reduce_mean(losses.source_loss(s, False, legacy=True))), TORCH_BCE_FAKE,
                               rtol=1e-5)
    np.testing.assert_allclose(float(tf.reduce_mean(losses.class_loss(l, y, legacy=True))), TORCH_NLL_SOFTMAX,
                               rtol=1e-5)


def test_legacy_gradients_are_finite_where_the_clamp_acts():
    s = tf.constant([[30.0], [-120.0], [0.5]])
    with tf.GradientTape() as tape:
        tape.watch(s)
        total = tf.reduce_sum(losses.source_loss(s, False, legacy=True) + losses.source_loss(s, True, legacy=True))
    grad = tape.gradient(total, s).numpy()[:, 0]
    assert np.all(np.isfinite(grad)) and grad[0] == 0.0 and grad[1] == 0.0  # clamped: PyTorch's zero gradient
    np.testing.assert_allclose(grad[2], 2 / (1 + np.exp(-0.5)) - 1, rtol=1e-5)  # sigmoid(s) - (1 - sigmoid(s))


# Logits and the means torch 2.13.0 printed for them (see test_legacy_values_equal_pytorchs_on_the_same_logits).
TORCH_SOURCE = np.array([[1.5], [-2.25], [0.125], [7.0], [-0.75], [3.5]], np.float32)
TORCH_CLASSES = np.array([[0.5, -1.0, 2.0, 0.0], [1.25, 0.25, -0.5, 3.0], [-2.0, 0.75, 0.5, 1.5],
                          [0.0, 0.0, 0.0, 0.0], [4.0, -3.0, 1.0, 2.5], [-0.25, 1.75, -1.5, 0.5]], np.float32)
TORCH_LABELS = np.array([2, 3, 1, 0, 0, 1])
TORCH_BCE_REAL = 0.7252919673919678
TORCH_BCE_FAKE = 2.2461347579956055
TORCH_NLL_SOFTMAX = -0.5785044431686401
