"""AC-GAN's metrics, per class and overall (registered when acgan is imported; `run_metrics.py --metrics=...`):

  class_accuracy_10k   the fraction of generated digits that the digit classifier (stylegan2.metrics.digit_classifier,
                       --digit-classifier) reads as their conditioning class: 1,000 per class of a 10-class,
                       1-channel generator (create_mnist); `--network=reals` gives the classifier's accuracy on the
                       dataset's own digits.
  is50k_classes        Inception Score (Salimans et al. 2016) of each class's 5,000 fakes (50,000 / 10 classes) and
                       of all of them together (shuffled before the 10 splits), the paper's IS with its classes
                       balanced. Comparable to published numbers only with the 2015-12-05 Inception graph.
"""

import itertools

import numpy as np

from stylegan2.errors import UserError
from stylegan2.metrics import arithmetic
from stylegan2.metrics.registry import register_metric

DIGIT_CLASSES = 10


def _num_classes(ctx):
    return ctx.dataset.label_dim if ctx.G is None else ctx.G.c_dim


def _nonempty(batches):
    """The batches of an iterator, or None when it has none."""
    first = next(batches, None)
    return None if first is None else itertools.chain([first], batches)


def class_accuracy(ctx, num_images, name):
    """{name: overall accuracy, name_class<k>: accuracy of class k} over num_images / 10 fakes per class."""
    from stylegan2.metrics.digit_classifier import classify_stacked

    channels = ctx.dataset.channels if ctx.G is None else ctx.G.synthesis.img_channels
    if _num_classes(ctx) != DIGIT_CLASSES or channels != 1:
        raise UserError(f"{name}: needs a 10-class, 1-channel digit {'dataset' if ctx.G is None else 'generator'} "
                        f"(dataset_tool.py create_mnist); this one has {_num_classes(ctx)} classes and {channels} "
                        f"channel(s)")
    classifier = ctx.classifier()
    per_class = ctx.count(num_images) // DIGIT_CLASSES
    if per_class < 1:
        raise UserError(f"{name}: needs at least {DIGIT_CLASSES} images (one per class)")
    results, correct, total = {}, 0, 0
    for k in range(DIGIT_CLASSES):
        batches = _nonempty(ctx.generated(per_class, seed_offset=k, class_idx=k))
        if batches is None:  # --network=reals: a class without records has no accuracy
            continue
        preds = np.concatenate([classify_stacked(classifier, images)[:, 0] for images in batches])
        results[f"{name}_class{k}"] = float(np.mean(preds == k))
        correct += int(np.sum(preds == k))
        total += len(preds)
    return {name: correct / total, **results}, {
        "feature_network": "MNIST digit classifier (stylegan2.metrics.digit_classifier)", "comparable": False,
        "images_per_class": per_class}


def inception_score_per_class(ctx, num_images, num_splits, name):
    """{name: IS of all fakes, name_std, name_class<k>: IS of class k's fakes} (mean over num_splits splits)."""
    classes = _num_classes(ctx)
    if not classes:
        raise UserError(f"{name}: needs a class-conditional generator")
    per_class = ctx.count(num_images) // classes
    if per_class < 1:
        raise UserError(f"{name}: needs at least {classes} images (one per class)")
    network = ctx.inception
    results, all_logits = {}, []
    for k in range(classes):
        batches = _nonempty(ctx.generated(per_class, seed_offset=k, class_idx=k))
        if batches is None:  # --network=reals: a class without records has no score
            continue
        logits = ctx.features(batches, network, "logits")
        results[f"{name}_class{k}"] = arithmetic.inception_score_from_logits(
            logits, num_splits=min(num_splits, len(logits)))[0]
        all_logits.append(logits)
    all_logits = np.concatenate(all_logits)
    all_logits = all_logits[np.random.RandomState(0).permutation(len(all_logits))]  # splits mix the classes
    mean, std = arithmetic.inception_score_from_logits(all_logits, num_splits=min(num_splits, len(all_logits)))
    net_name, comparable = ctx.network_name(network)
    return {name: mean, f"{name}_std": std, **results}, {"feature_network": net_name, "comparable": comparable,
                                                          "images_per_class": per_class}


register_metric("class_accuracy_10k", class_accuracy, num_images=10000, name="class_accuracy_10k")
register_metric("is50k_classes", inception_score_per_class, num_images=50000, num_splits=10, name="is50k_classes")
