"""LIS metrics, registered when the package is imported (run_metrics.py and run_training.py --metrics find them).

`broken10k`: the fraction of 10,000 generated digits that the digit classifier (stylegan2.metrics.digit_classifier)
cannot read with confidence: a sample is broken when the classifier's top softmax probability is below 0.9, in any
channel (MNIST: the one channel; Stacked MNIST: each of the three digits must be readable). The paper counts broken
images by eye; this is that count made by a classifier. Beside it: the mean confidence, and the diversity the paper
trades against (distinct classes and the KL of the class distribution to uniform, as mode_counts / KL24k). With
`--depth r` it measures depth r of a LIS snapshot, with `--r-encoder` the R-separate repaired images;
`--network=reals` gives the rate of the real digits.

Inception Score per depth needs nothing of its own: `is50k` (stylegan2.metrics.protocols) with `--depth r`.
"""

import numpy as np

from stylegan2.metrics import arithmetic
from stylegan2.metrics.registry import register_metric

BROKEN_THRESHOLD = 0.9


def digit_scores(ctx, num_images):
    """Softmax probabilities [N, C, 10] of the digit in each channel of `num_images` generated images."""
    from stylegan2.metrics.digit_classifier import digit_probabilities

    key = ("lis digit probabilities", ctx.count(num_images))
    if key not in ctx.memo:
        classifier = ctx.classifier()
        ctx.memo[key] = np.concatenate([digit_probabilities(classifier, images)
                                        for images in ctx.generated(ctx.count(num_images))])
    return ctx.memo[key]


def broken_fraction(ctx, name, num_images, threshold):
    """The fraction of broken samples, their mean confidence (per image: its least confident channel), and for the
    diversity the paper trades against: the distinct classes (digits; Stacked MNIST: d0 + 10 d1 + 100 d2) among all
    samples and KL(p_fake || uniform) over the 10^C classes."""
    probs = digit_scores(ctx, num_images)
    confidence = probs.max(axis=2).min(axis=1)
    channels = probs.shape[1]
    classes = (probs.argmax(axis=2) * 10 ** np.arange(channels)).sum(axis=1)
    info = {"feature_network": "digit classifier (top softmax probability per channel)", "comparable": False,
            "threshold": threshold, "num_images": int(len(confidence))}
    return {name: float(np.mean(confidence < threshold)),
            f"{name}_confidence": float(np.mean(confidence)),
            f"{name}_classes": float(arithmetic.mode_counts(classes, 10 ** channels)),
            f"{name}_kl": arithmetic.kl_to_uniform(classes, 10 ** channels)}, info


register_metric("broken10k", broken_fraction, name="broken10k", num_images=10000, threshold=BROKEN_THRESHOLD)
