"""AC-GAN's metrics, per class and overall (registered when acgan is imported; `run_metrics.py --metrics=...`):

  class_accuracy_10k   the fraction of generated digits that the digit classifier (stylegan2.metrics.digit_classifier,
                       --digit-classifier) reads as their conditioning class: 1,000 per class of a 10-class,
                       1-channel generator (create_mnist); `--network=reals` gives the classifier's accuracy on the
                       dataset's own digits.
  is50k_classes        Inception Score (Salimans et al. 2016) of each class's 5,000 fakes (50,000 / 10 classes) and
                       of all of them together (shuffled before the 10 splits), the paper's IS with its classes
                       balanced. Comparable to published numbers only with the 2015-12-05 Inception graph.
  msssim_classes       the paper's intra-class diversity (Odena et al. 2017, Sec. 4.2): the mean MS-SSIM of 100
                       same-class pairs of fakes (images 2i and 2i+1 of a class), per class and averaged over the
                       classes; lower is more diverse, 1 is one image per class. `--network=reals` gives the dataset's
                       (the paper compares with the real classes). MS-SSIM is tf.image.ssim_multiscale (11x11 Gaussian,
                       sigma 1.5) over as many of its 5 scales as the image allows (the coarsest at least 11 px: 2 at
                       32 px, 4 at 128 px), the weights of those scales renormalised to sum 1.
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


MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, tf.image.ssim_multiscale's default
SSIM_FILTER = 11


def msssim_weights(size):
    """The MS-SSIM scale weights that fit a size x size image (coarsest scale >= the 11 px filter), summing to 1."""
    levels = 0
    while levels < len(MSSSIM_WEIGHTS) and size // 2 ** levels >= SSIM_FILTER:
        levels += 1
    if not levels:
        raise UserError(f"msssim: images of {size} px are smaller than the {SSIM_FILTER} px SSIM filter")
    weights = np.asarray(MSSSIM_WEIGHTS[:levels])
    return tuple(weights / weights.sum())


def msssim_per_class(ctx, num_pairs, name):
    """{name: mean over classes, name_class<k>: mean MS-SSIM of class k's pairs (2i, 2i+1)}."""
    import tensorflow as tf

    classes = _num_classes(ctx)
    if not classes:
        raise UserError(f"{name}: needs a class-conditional generator or a labelled dataset")
    pairs = max(ctx.count(2 * num_pairs) // 2, 1)
    results = {}
    for k in range(classes):
        batches = _nonempty(ctx.generated(2 * pairs, seed_offset=k, class_idx=k))
        if batches is None:
            continue
        images = np.concatenate([np.asarray(b) for b in batches])
        n = len(images) // 2 * 2
        if n < 2:  # --network=reals: a class with fewer than 2 records has no pair
            continue
        images = (np.clip(images[:n], -1, 1) + 1) / 2
        weights = msssim_weights(min(images.shape[1:3]))
        values = tf.image.ssim_multiscale(images[0::2], images[1::2], max_val=1.0, power_factors=weights,
                                          filter_size=SSIM_FILTER)
        results[f"{name}_class{k}"] = float(np.mean(values))
    if not results:
        raise UserError(f"{name}: no class has two images")
    return {name: float(np.mean(list(results.values()))), **results}, {"pairs_per_class": pairs}


register_metric("class_accuracy_10k", class_accuracy, num_images=10000, name="class_accuracy_10k")
register_metric("is50k_classes", inception_score_per_class, num_images=50000, num_splits=10, name="is50k_classes")
register_metric("msssim_classes", msssim_per_class, num_pairs=100, name="msssim_classes")
