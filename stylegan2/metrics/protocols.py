"""The metrics under the originals' names (NV/IG metrics/metric_defaults.py, ADA metric_main.py, self-conditioned
GAN metrics.py). Each is `fn(ctx, **kwargs) -> ({result name: float}, {info})`; importing this module registers them.

Sizes follow the originals: fakes are always `num_images` from G_ema without truncation; reals are the first
`num_images` records of the unshuffled dataset (all of them for *_full), statistics cached per dataset content.
"""

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.metrics import arithmetic
from stylegan2.metrics.registry import register_metric
from stylegan2.metrics.runner import to_uint8_range
from stylegan2.slerp import slerp_tf


def _info(ctx, network):
    name, comparable = ctx.network_name(network)
    return {"feature_network": name, "comparable": comparable}


def _real_features(ctx, network, output, num, what):
    num = min(ctx.count(num), ctx.dataset.num_images)
    net_name = ctx.network_name(network)[0]
    return ctx.cached(f"{what}|{net_name}|{output}|{num}",
                      lambda: {"features": ctx.features(ctx.reals(num), network, output)})["features"]


def fid(ctx, name, num_images, num_reals):
    """Fréchet Inception Distance (Heusel et al. 2017; NV frechet_inception_distance.py): pool_3 statistics of
    `num_images` fakes against the first `num_reals` reals (None = all of them, for *_full)."""
    network = ctx.inception
    num_fakes = ctx.count(num_images)
    num_reals = min(ctx.count(num_reals or ctx.dataset.num_images), ctx.dataset.num_images)
    net_name = ctx.network_name(network)[0]

    def real_stats():
        mu, sigma = arithmetic.activation_statistics(ctx.features(ctx.reals(num_reals), network, "pool"))
        return {"mu": mu, "sigma": sigma}

    reals = ctx.cached(f"fid|{net_name}|pool|{num_reals}", real_stats)
    mu, sigma = arithmetic.activation_statistics(ctx.features(ctx.generated(num_fakes), network, "pool"))
    return {name: arithmetic.fid_from_statistics(mu, sigma, reals["mu"], reals["sigma"])}, _info(ctx, network)


def kid(ctx, num_images):
    """Kernel Inception Distance (Bińkowski et al. 2018) via TF-GAN's block estimator; reals = the first num_images."""
    network = ctx.inception
    real = _real_features(ctx, network, "pool", num_images, "kid")
    fake = ctx.features(ctx.generated(ctx.count(num_images)), network, "pool")
    value, std = arithmetic.kid_from_activations(real, fake)
    return {"kid50k": value, "kid50k_std": std}, _info(ctx, network)


def inception_score(ctx, num_images, num_splits):
    """Inception Score (Salimans et al. 2016; NV inception_score.py): exp E[KL(p(y|x) || p(y))] over `num_splits`."""
    network = ctx.inception
    logits = ctx.features(ctx.generated(ctx.count(num_images)), network, "logits")
    mean, std = arithmetic.inception_score_from_logits(logits, num_splits=min(num_splits, len(logits)))
    return {"is50k": mean, "is50k_std": std}, _info(ctx, network)


def precision_recall(ctx, num_images, nhood_size):
    """Improved precision and recall (Kynkäänniemi et al. 2019; NV precision_recall.py) on VGG16 fc2 features."""
    real = _real_features(ctx, "vgg16", None, num_images, "pr")
    fake = ctx.features(ctx.generated(ctx.count(num_images)), "vgg16")
    precision, recall = arithmetic.precision_recall(real, fake, k=nhood_size)
    return {"pr50k3_precision": precision, "pr50k3_recall": recall}, _info(ctx, "vgg16")


def perceptual_path_length(ctx, num_samples, epsilon, space, sampling, crop, name):
    """Perceptual path length (Karras et al. 2019; NV perceptual_path_length.py): LPIPS between images at t and
    t + epsilon along slerp (z) or lerp (w) paths, / epsilon^2, mean over the 1st-99th percentile. sampling 'full':
    t ~ U[0,1]; 'end': t = 0. Each pair shares its noise; crop: the face-centred crop of NV ([3c:7c, 2c:6c], c = H/8)."""
    if ctx.G is None:
        raise UserError(f"{name}: needs a generator (--network=reals has no latent space)")
    G, lpips = ctx.G, ctx.network("lpips")
    rnd = np.random.RandomState(ctx.seed)
    num_samples = ctx.count(num_samples)
    batch = max(ctx.batch_size // 2, 1)
    distances = []

    @tf.function(autograph=False)
    def pair_distances(z0, z1, c, t, noise):
        if space == "z":
            zt0, zt1 = slerp_tf(z0, z1, t), slerp_tf(z0, z1, t + epsilon)
            ws = G.mapping(tf.concat([zt0, zt1], 0), tf.concat([c, c], 0))
        else:
            w = G.mapping(tf.concat([z0, z1], 0), tf.concat([c, c], 0))
            w0, w1 = w[:tf.shape(z0)[0]], w[tf.shape(z0)[0]:]
            t3 = t[:, :, None]
            ws = tf.concat([w0 + (w1 - w0) * t3, w0 + (w1 - w0) * (t3 + epsilon)], 0)
        images = G.synthesis(ws, noise=[tf.concat([n, n], 0) for n in noise])
        if crop:
            c8 = images.shape[1] // 8
            images = images[:, c8 * 3:c8 * 7, c8 * 2:c8 * 6, :]
        if images.shape[1] > 256:
            factor = images.shape[1] // 256
            images = tf.nn.avg_pool2d(images, factor, factor, "VALID")
        images = to_uint8_range(images)
        n = tf.shape(z0)[0]
        return lpips(images[:n], images[n:]) / (epsilon ** 2)

    done = 0
    while done < num_samples:
        z0, z1 = (rnd.randn(batch, G.z_dim).astype(np.float32) for _ in range(2))
        c = (ctx.dataset.sample_labels(batch, rnd) if G.c_dim else np.zeros([batch, 0])).astype(np.float32)
        t = (rnd.uniform(size=[batch, 1]) * (1.0 if sampling == "full" else 0.0)).astype(np.float32)
        noise = [rnd.randn(batch, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
        distances.append(np.asarray(pair_distances(z0, z1, c, t, noise)))
        done += batch
    dist = np.concatenate(distances)[:num_samples].astype(np.float64)
    lo, hi = np.percentile(dist, 1, method="lower"), np.percentile(dist, 99, method="higher")
    kept = dist[(dist >= lo) & (dist <= hi)]
    return {name: float(np.mean(kept))}, _info(ctx, "lpips")


def _stacked_mnist_digits(ctx, num_images):
    """(per-channel digits int64 [N,3], their softmax probabilities [N,3]) of the fakes, shared by every Stacked-MNIST
    metric of one snapshot."""
    channels = ctx.dataset.channels if ctx.G is None else ctx.G.synthesis.img_channels
    if channels != 3:
        raise UserError("Stacked-MNIST metrics need a 3-channel generator (one digit per channel)")
    from stylegan2.metrics.digit_classifier import predict_stacked

    key = ("stacked-mnist digits", ctx.count(num_images))
    if key not in ctx.memo:
        classifier = ctx.classifier()
        parts = [predict_stacked(classifier, images) for images in ctx.generated(ctx.count(num_images))]
        ctx.memo[key] = tuple(np.concatenate(part) for part in zip(*parts))
    return ctx.memo[key]


def _stacked_mnist_predictions(ctx, num_images):
    return arithmetic.stacked_predictions(_stacked_mnist_digits(ctx, num_images)[0])


def _classifier_info(ctx):
    return {"feature_network": "stacked-mnist per-channel digit classifier (not the original's 1000-way network)",
            "comparable": False}


def mode_counts(ctx, num_images):
    """Stacked-MNIST modes covered (IG metrics/mode_counts.py): distinct classes d0 + 10 d1 + 100 d2 among fakes."""
    preds = _stacked_mnist_predictions(ctx, num_images)
    return {f"mode_counts_{num_images // 1000}k": float(arithmetic.mode_counts(preds, 1000))}, _classifier_info(ctx)


def confident_mode_counts(ctx, num_images, threshold=0.9):
    """Modes among the fakes whose three digits the classifier reads with confidence >= 0.9 each, and their fraction:
    blurred or ambiguous channels still get an argmax digit, so mode_counts alone can count blobs as modes."""
    digits, confidence = _stacked_mnist_digits(ctx, num_images)
    sure = np.all(confidence >= threshold, axis=1)
    tag = f"{num_images // 1000}k"
    return {f"mode_counts_confident_{tag}": float(arithmetic.mode_counts(
                arithmetic.stacked_predictions(digits[sure]), 1000)) if sure.any() else 0.0,
            f"confident_fraction_{tag}": float(np.mean(sure))}, {**_classifier_info(ctx), "threshold": threshold}


def kl(ctx, num_images):
    """KL(p_fake || uniform over 1000 modes) in nats (IG metrics/KL.py)."""
    preds = _stacked_mnist_predictions(ctx, num_images)
    return {f"KL{num_images // 1000}k": arithmetic.kl_to_uniform(preds, 1000)}, _classifier_info(ctx)


def modes_and_reverse_kl(ctx, num_images):
    """The self-conditioned GAN's Stacked-MNIST numbers (utils/get_empirical_distribution.py): modes and the
    log10 reverse KL = KL(p_fake || uniform) in base 10."""
    preds = _stacked_mnist_predictions(ctx, num_images)
    tag = f"{num_images // 1000}k"
    return {f"modes{tag}": float(arithmetic.mode_counts(preds, 1000)),
            f"rkl{tag}": arithmetic.reverse_kl_log10(preds, 1000)}, _classifier_info(ctx)


register_metric("fid50k", fid, name="fid50k", num_images=50000, num_reals=50000)
register_metric("fid30k", fid, name="fid30k", num_images=30000, num_reals=30000)
register_metric("fid50k_full", fid, name="fid50k_full", num_images=50000, num_reals=None)
register_metric("kid50k", kid, num_images=50000)
register_metric("is50k", inception_score, num_images=50000, num_splits=10)
register_metric("pr50k3", precision_recall, num_images=50000, nhood_size=3)
for _space in ("z", "w"):
    for _sampling in ("full", "end"):
        _name = f"ppl_{_space}{_sampling}"
        register_metric(_name, perceptual_path_length, num_samples=50000, epsilon=1e-4, space=_space,
                        sampling=_sampling, crop=True, name=_name)
register_metric("ppl2_wend", perceptual_path_length, num_samples=50000, epsilon=1e-4, space="w", sampling="end",
                crop=False, name="ppl2_wend")
register_metric("mode_counts_24k", mode_counts, num_images=24000)
register_metric("KL24k", kl, num_images=24000)
register_metric("mode_counts_confident_24k", confident_mode_counts, num_images=24000)
register_metric("modes_rkl_50k", modes_and_reverse_kl, num_images=50000)
