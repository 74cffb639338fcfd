"""LIS metrics, registered when the package is imported (run_metrics.py and run_training.py --metrics find them).

`broken10k`: the fraction of 10,000 generated digits that the digit classifier (stylegan2.metrics.digit_classifier)
cannot read with confidence: a sample is broken when the classifier's top softmax probability is below 0.9, in any
channel (MNIST: the one channel; Stacked MNIST: each of the three digits must be readable). The paper counts broken
images by eye; this is that count made by a classifier. With `--depth r` it measures depth r of a LIS snapshot, with
`--r-encoder` the R-separate repaired images; `--network=reals` gives the rate of the real digits.

Inception Score per depth needs nothing of its own: `is50k` (stylegan2.metrics.protocols) with `--depth r`.
"""

import numpy as np

from stylegan2.metrics.registry import register_metric

BROKEN_THRESHOLD = 0.9


def top_confidences(ctx, num_images):
    """[N] per generated image: the lowest, over its channels, of the classifier's top probability."""
    from stylegan2.metrics.digit_classifier import digit_probabilities

    key = ("lis top confidences", ctx.count(num_images))
    if key not in ctx.memo:
        classifier = ctx.classifier()
        ctx.memo[key] = np.concatenate([digit_probabilities(classifier, images).max(axis=2).min(axis=1)
                                        for images in ctx.generated(ctx.count(num_images))])
    return ctx.memo[key]


def broken_fraction(ctx, name, num_images, threshold):
    confidence = top_confidences(ctx, num_images)
    info = {"feature_network": "digit classifier (top softmax probability per channel)", "comparable": False,
            "threshold": threshold, "num_images": int(len(confidence))}
    return {name: float(np.mean(confidence < threshold)),
            f"{name}_confidence": float(np.mean(confidence))}, info


register_metric("broken10k", broken_fraction, name="broken10k", num_images=10000, threshold=BROKEN_THRESHOLD)
