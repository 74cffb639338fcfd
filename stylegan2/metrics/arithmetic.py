"""Metric arithmetic on features, logits and class predictions: FID, KID, IS, precision/recall, PRD, mode counts,
KL to uniform, cluster metrics.

Pure functions of NumPy arrays returning Python floats (or tuples/dicts of them); no feature network, no generator.
FID, KID and IS go through TF-GAN's `tfgan.eval` arithmetic (imported lazily via `stylegan2.metrics.tfgan`);
everything else is NumPy/SciPy/scikit-learn. A mistake in the inputs raises a one-line `UserError`.
"""

import math
import warnings

import numpy as np

from stylegan2.errors import UserError


def _tfgan():
    from stylegan2.metrics.tfgan import tfgan

    return tfgan()


def _features(x, name, min_rows=2):
    x = np.asarray(x)
    if x.ndim != 2:
        raise UserError(f"{name}: expected a 2-D [num_samples, num_features] array, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise UserError(f"{name}: needs at least {min_rows} samples, got {x.shape[0]}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise UserError(f"{name}: features must be finite numbers (found NaN/inf or a non-numeric dtype)")
    return x.astype(np.float64, copy=False)


def _feature_pair(a, b, names, min_rows=2):
    a, b = _features(a, names[0], min_rows), _features(b, names[1], min_rows)
    if a.shape[1] != b.shape[1]:
        raise UserError(f"{names[0]} has {a.shape[1]} features per sample but {names[1]} has {b.shape[1]}; "
                        f"compute both with the same feature network")
    return a, b


# ---------------------------------------------------------------------------------------------------------------
# FID


def activation_statistics(act):
    """(mu [D], sigma [D,D]) of activations [N,D] in float64: the mean and the unbiased covariance
    (`np.cov(rowvar=False)`), as NVIDIA's metrics/frechet_inception_distance.py caches them for the reals."""
    act = _features(act, "activations")
    return act.mean(axis=0), np.cov(act, rowvar=False)


def fid_from_activations(real_act, fake_act):
    """Frechet distance between Gaussian fits of two activation sets [N,D] (Heusel et al. 2017, eq. 6):
    |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), by `tfgan.eval.frechet_classifier_distance_from_activations`
    in float64 (unbiased covariances; the trace of the square root via two symmetric SVD square roots).
    Agrees with `fid_from_statistics(*activation_statistics(real_act), *activation_statistics(fake_act))`, the
    NVIDIA/TTUR `scipy.linalg.sqrtm` formula, to ~1e-13 relative (~1e-8 when N < D makes the covariances singular)."""
    real_act, fake_act = _feature_pair(real_act, fake_act, ("real activations", "fake activations"))
    import tensorflow as tf

    fid = _tfgan().eval.frechet_classifier_distance_from_activations(tf.constant(real_act), tf.constant(fake_act))
    return float(fid)


def fid_from_statistics(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """FID from cached statistics (NVIDIA metrics/frechet_inception_distance.py; TTUR fid.py
    calculate_frechet_distance): |mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), real part. As in TTUR, when the
    product is singular enough that sqrtm is not finite, `eps` is added to both diagonals. Symmetric in (1, 2)."""
    import scipy.linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != mu1.shape:
        raise UserError(f"FID statistics: means of shapes {mu1.shape} and {mu2.shape} differ; use statistics of the "
                        f"same feature network")
    if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise UserError(f"FID statistics: covariances of shapes {sigma1.shape} and {sigma2.shape} do not match means "
                        f"of size {dim}; recompute the cached statistics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(dim) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    fid = np.square(mu1 - mu2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(np.real(fid))


# ---------------------------------------------------------------------------------------------------------------
# KID


def kid_from_activations(real_act, fake_act, max_block_size=1024):
    """Kernel Inception Distance (Binkowski et al. 2018, eq. 3/4): unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / D + 1)^3, by `tfgan.eval.kernel_classifier_distance_and_std_from_activations` in float64.

    Returns (kid, std). TF-GAN splits both sets into the same number of blocks, ceil(max(N_r, N_f) /
    max_block_size), of near-equal consecutive rows (so the inputs must be in random order), averages the
    per-block MMD^2, and returns the standard error of that mean; the std is NaN when there is a single block
    (N <= max_block_size). NVIDIA's ADA kid50k_full instead averages 100 random subsets of 1000: the same
    expectation, a different estimator and std."""
    real_act, fake_act = _feature_pair(real_act, fake_act, ("real activations", "fake activations"))
    if max_block_size < 2:
        raise UserError(f"KID max_block_size={max_block_size}: must be at least 2")
    import tensorflow as tf
    from tensorflow.python.util import deprecation

    with deprecation.silence():
        kid, std = _tfgan().eval.kernel_classifier_distance_and_std_from_activations(
            tf.constant(real_act), tf.constant(fake_act), max_block_size=max_block_size, dtype=tf.float64)
    return float(kid), float(std)


# ---------------------------------------------------------------------------------------------------------------
# Inception score


def inception_score_from_logits(logits, num_splits=10):
    """Inception score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) on each of `num_splits` consecutive
    splits (rows [i N // S, (i+1) N // S), as NVIDIA metrics/inception_score.py is50k), each by
    `tfgan.eval.classifier_score_from_logits` in float64. Returns (mean, std) over the splits (std with ddof=0,
    as np.std in NVIDIA's code).

    The softmax is taken over the logits exactly as given: the 2015-12-05 Inception graph has 1008 outputs, and
    NVIDIA's and TTUR's numbers use all 1008, so do not drop the 8 unused classes."""
    logits = _features(logits, "logits")
    if not 1 <= num_splits <= logits.shape[0]:
        raise UserError(f"inception score: num_splits={num_splits} needs 1 <= num_splits <= {logits.shape[0]} samples")
    import tensorflow as tf

    score = _tfgan().eval.classifier_score_from_logits
    n = logits.shape[0]
    scores = [float(score(tf.constant(logits[i * n // num_splits:(i + 1) * n // num_splits])))
              for i in range(num_splits)]
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------------------------------------------
# Improved precision and recall (Kynkaanniemi et al. 2019)


def _squared_distances(u, v, u_norms, v_norms):
    d = u @ v.T
    d *= -2.0
    d += u_norms[:, None]
    d += v_norms[None, :]
    return np.maximum(d, 0.0, out=d)


def _knn_radii(feat, norms, k, row_batch, col_batch):
    """Squared distance from each row of `feat` to its k-th nearest neighbour, self excluded (NVIDIA's
    ManifoldEstimator: the k-th order statistic, 0-based, of distances that include the zero self-distance),
    keeping only the k+1 smallest per row between column blocks."""
    n = feat.shape[0]
    radii = np.empty(n, feat.dtype)
    for r0 in range(0, n, row_batch):
        rows = slice(r0, min(r0 + row_batch, n))
        best = np.empty((rows.stop - r0, 0), feat.dtype)
        for c0 in range(0, n, col_batch):
            cols = slice(c0, min(c0 + col_batch, n))
            best = np.concatenate([best, _squared_distances(feat[rows], feat[cols], norms[rows], norms[cols])], 1)
            if best.shape[1] > k + 1:
                best = np.partition(best, k, axis=1)[:, :k + 1]
        radii[rows] = np.partition(best, k, axis=1)[:, k]
    return radii


def _in_manifold(query, query_norms, ref, ref_norms, radii, row_batch, col_batch):
    """For each query row: does it lie within the radius of some reference row (distance <= radius)?"""
    inside = np.zeros(query.shape[0], bool)
    for r0 in range(0, query.shape[0], row_batch):
        rows = slice(r0, min(r0 + row_batch, query.shape[0]))
        for c0 in range(0, ref.shape[0], col_batch):
            cols = slice(c0, min(c0 + col_batch, ref.shape[0]))
            d = _squared_distances(query[rows], ref[cols], query_norms[rows], ref_norms[cols])
            inside[rows] |= (d <= radii[None, cols]).any(axis=1)
    return inside


def precision_recall(real_feat, fake_feat, k=3, row_batch=10000, col_batch=10000, dtype=np.float32):
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-3; NVIDIA metrics/precision_recall.py pr50k3).

    Each sample's ball has as radius its squared L2 distance to its k-th nearest neighbour in its own set (self
    excluded). Precision = fraction of fakes inside at least one real ball; recall = fraction of reals inside at
    least one fake ball. Distances ||u||^2 - 2 u.v + ||v||^2 (clamped at 0) are computed in blocks of
    row_batch x col_batch in `dtype` (NVIDIA uses float16; float32 here, float64 on request), so memory stays
    O(row_batch * col_batch). Exact duplicates within a set count as neighbours at distance 0, as in NVIDIA's code.
    Returns (precision, recall)."""
    real, fake = _feature_pair(real_feat, fake_feat, ("real features", "fake features"), min_rows=1)
    if k < 1:
        raise UserError(f"precision/recall: k={k} must be at least 1")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise UserError(f"precision/recall: k={k} needs more than {k} samples in each set, got "
                        f"{real.shape[0]} real and {fake.shape[0]} fake")
    if row_batch < 1 or col_batch < 1:
        raise UserError(f"precision/recall: row_batch={row_batch} and col_batch={col_batch} must be positive")
    real, fake = real.astype(dtype), fake.astype(dtype)
    real_norms, fake_norms = np.square(real).sum(1), np.square(fake).sum(1)
    real_radii = _knn_radii(real, real_norms, k, row_batch, col_batch)
    fake_radii = _knn_radii(fake, fake_norms, k, row_batch, col_batch)
    precision = _in_manifold(fake, fake_norms, real, real_norms, real_radii, row_batch, col_batch).mean()
    recall = _in_manifold(real, real_norms, fake, fake_norms, fake_radii, row_batch, col_batch).mean()
    return float(precision), float(recall)


# ---------------------------------------------------------------------------------------------------------------
# PRD: precision and recall for distributions (Sajjadi et al. 2018)


def prd_from_histograms(eval_dist, ref_dist, num_angles=1001, epsilon=1e-10):
    """The PRD curve of two histograms over the same bins (Sajjadi et al. 2018, Thm. 2; prd_score.py compute_prd):
    for lambda = tan(angle), angle in linspace(epsilon, pi/2 - epsilon, num_angles),
    precision(lambda) = sum_i min(lambda ref_i, eval_i) and recall(lambda) = precision(lambda) / lambda, clipped
    to [0, 1]. Returns (precision [num_angles], recall [num_angles])."""
    eval_dist, ref_dist = np.asarray(eval_dist, np.float64), np.asarray(ref_dist, np.float64)
    if eval_dist.ndim != 1 or eval_dist.shape != ref_dist.shape:
        raise UserError(f"PRD: histograms of shapes {eval_dist.shape} and {ref_dist.shape}; need two 1-D histograms "
                        f"over the same bins")
    if not 0 < epsilon < 0.1 or not 3 <= num_angles <= 1e6:
        raise UserError(f"PRD: need 0 < epsilon < 0.1 and 3 <= num_angles <= 1e6, got {epsilon} and {num_angles}")
    slopes = np.tan(np.linspace(epsilon, math.pi / 2 - epsilon, num=num_angles))
    precision = np.minimum(ref_dist[None, :] * slopes[:, None], eval_dist[None, :]).sum(axis=1)
    recall = precision / slopes
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def prd_curve(ref_feat, eval_feat, num_clusters=20, num_angles=1001, num_runs=10, enforce_balance=False,
              batch_size=100, seed=None):
    """PRD from embeddings (Sajjadi et al. 2018; prd_score.py compute_prd_from_embedding, as the InclusiveGAN README
    runs it): the union of both sets is clustered by MiniBatchKMeans(num_clusters, n_init=10) into bins, the
    normalised bin histograms give a PRD curve, and the curves of `num_runs` clusterings are averaged.
    `batch_size=100` is the MiniBatchKMeans default of the scikit-learn the original ran on; `seed` makes runs
    repeatable (the original is unseeded); `enforce_balance` defaults to False as in the IG copy.
    Returns (precision [num_angles], recall [num_angles])."""
    from sklearn.cluster import MiniBatchKMeans

    ref, evl = _feature_pair(ref_feat, eval_feat, ("reference features", "evaluated features"), min_rows=1)
    if enforce_balance and ref.shape[0] != evl.shape[0]:
        raise UserError(f"PRD: {evl.shape[0]} evaluated vs {ref.shape[0]} reference samples; use equal counts or "
                        f"turn enforce_balance off")
    if not 1 <= num_clusters <= ref.shape[0] + evl.shape[0] or num_runs < 1:
        raise UserError(f"PRD: num_clusters={num_clusters} must be in 1..{ref.shape[0] + evl.shape[0]} "
                        f"and num_runs={num_runs} at least 1")
    rng = np.random.RandomState(seed)
    union = np.vstack([evl, ref])
    curves = []
    for _ in range(num_runs):
        kmeans = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, batch_size=batch_size,
                                 random_state=rng.randint(2**31 - 1))
        labels = kmeans.fit(union).labels_
        eval_bins = np.bincount(labels[:evl.shape[0]], minlength=num_clusters) / evl.shape[0]
        ref_bins = np.bincount(labels[evl.shape[0]:], minlength=num_clusters) / ref.shape[0]
        curves.append(prd_from_histograms(eval_bins, ref_bins, num_angles))
    precision, recall = np.mean(curves, axis=0)
    return precision, recall


def max_f_beta_pair(precision, recall, beta=8, epsilon=1e-10):
    """(max F_beta, max F_1/beta) over a PRD curve (prd_score.py prd_to_max_f_beta_pair), with
    F_beta = (1 + beta^2) p r / (beta^2 p + r + epsilon). With beta=8 these are what the original prints as
    F_8 (recall) and F_1/8 (precision), in that order."""
    precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    if precision.shape != recall.shape or not (((0 <= precision) & (precision <= 1)).all()
                                               and ((0 <= recall) & (recall <= 1)).all()):
        raise UserError("PRD F-beta: precision and recall must be same-shape arrays with values in [0, 1]")
    if beta <= 0:
        raise UserError(f"PRD F-beta: beta={beta} must be positive")

    def f_beta(b):
        return (1 + b**2) * precision * recall / (b**2 * precision + recall + epsilon)

    return float(np.max(f_beta(beta))), float(np.max(f_beta(1.0 / beta)))


# ---------------------------------------------------------------------------------------------------------------
# Mode counts and KL (Stacked MNIST, CIFAR-10, ...)


def _class_predictions(predictions, num_classes, name="predictions"):
    """1-D class indices, or 2-D per-class scores [N, num_classes] (argmax taken)."""
    if num_classes < 1:
        raise UserError(f"num_classes={num_classes} must be at least 1")
    p = np.asarray(predictions)
    if p.ndim == 2:
        if p.shape[1] != num_classes:
            raise UserError(f"{name}: scores for {p.shape[1]} classes, expected num_classes={num_classes}")
        p = p.argmax(axis=1)
    if p.ndim != 1 or p.size == 0:
        raise UserError(f"{name}: expected a non-empty 1-D array of class indices, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        if not np.issubdtype(p.dtype, np.floating) or not np.array_equal(p, np.round(p)):
            raise UserError(f"{name}: class indices must be integers, got dtype {p.dtype}")
        p = p.astype(np.int64)
    if p.min() < 0 or p.max() >= num_classes:
        raise UserError(f"{name}: class indices must lie in [0, {num_classes}), got {p.min()}..{p.max()}")
    return p


def class_distribution(predictions, num_classes):
    """p(c) = (number of predictions equal to c) / N, c in [0, num_classes): float64 [num_classes]."""
    p = _class_predictions(predictions, num_classes)
    return np.bincount(p, minlength=num_classes) / p.size


def mode_counts(predictions, num_classes):
    """Number of distinct predicted classes, i.e. classes with at least one sample (IG metrics/mode_counts.py
    `len(np.unique(preds))`; self-conditioned GAN utils/get_empirical_distribution.py, no minimum count)."""
    return int(np.unique(_class_predictions(predictions, num_classes)).size)


def kl_to_uniform(predictions, num_classes):
    """KL(p_fake || uniform) = sum_{p>0} p log(p / q), q = 1/K, natural log (IG metrics/KL.py, with p the
    `np.histogram(preds, bins=arange(K+1), density=True)` class frequencies)."""
    p = class_distribution(predictions, num_classes)
    p = p[p > 0]
    return float(np.sum(p * np.log(p * num_classes)))


def reverse_kl_log10(predictions, num_classes):
    """Self-conditioned GAN's "reverse KL" (utils/get_empirical_distribution.py): sum_{c: p(c)>0} p(c)
    log10(p(c) * K) = KL(p_gen || Uniform(K)) in base 10 (log10 "seems to reproduce pacgan results"). It is the
    same divergence as `kl_to_uniform` divided by ln 10; K is the dataset's class count (1000 for Stacked MNIST)."""
    p = class_distribution(predictions, num_classes)
    p = p[p > 0]
    return float(np.sum(p * np.log10(p * num_classes)))


def stacked_predictions(channel_predictions):
    """Stacked-MNIST class of per-channel digit predictions: d0 + 10 d1 + 100 d2 with channel c (R, G, B) holding
    digit dc, the label encoding of `dataset_tool.py create_mnistrgb` (IG create_mnistrgb; stylegan2.dataset_tool
    .common.stack_digits). `channel_predictions`: [N, 3] digits (column c = channel c), [N, 3, 10] scores (argmax
    over the last axis); stack per-channel arrays with `np.stack([d0, d1, d2], axis=1)`. Returns int64 [N]."""
    d = np.asarray(channel_predictions)
    if d.ndim == 3:
        if d.shape[2] != 10:
            raise UserError(f"stacked predictions: scores over {d.shape[2]} classes, expected 10 digits")
        d = d.argmax(axis=2)
    if d.ndim != 2 or d.shape[1] != 3:
        raise UserError(f"stacked predictions: expected [N, 3] per-channel digits, got shape {d.shape}")
    digits = _class_predictions(d.reshape(-1), 10, "stacked predictions").reshape(d.shape)
    return digits[:, 0] + 10 * digits[:, 1] + 100 * digits[:, 2]


# ---------------------------------------------------------------------------------------------------------------
# Cluster metrics (self-conditioned GAN cluster_metrics.py, gan_training/metrics/clustering_metrics.py)


def cluster_metrics(true_labels, cluster_ids):
    """How well cluster assignments recover true classes. Labels of either kind may be any integers (or strings).

    Returns a dict of floats:
    - `nmi`: sklearn `normalized_mutual_info_score(true, clusters)` (arithmetic averaging, sklearn's default).
    - `purity`: standard purity, (1/N) sum over clusters of the largest count of one true class in that cluster.
    - `inverse_purity`: (1/N) sum over true classes of the largest count of one cluster in that class. This is the
      number self-conditioned GAN's cluster_metrics.py prints as "purity": it calls `purity_score(y_preds, y_reals)`
      whose signature is (y_true, y_pred), swapping the arguments.
    - `ari`: sklearn `adjusted_rand_score`.
    - `hungarian_accuracy`: the best one-to-one matching of clusters to classes (scipy linear_sum_assignment on the
      contingency table, maximised), matched count / N; unmatched clusters count as errors (clustering_metrics.acc).
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix

    true_labels, cluster_ids = np.asarray(true_labels), np.asarray(cluster_ids)
    if true_labels.ndim != 1 or true_labels.shape != cluster_ids.shape or true_labels.size == 0:
        raise UserError(f"cluster metrics: need two non-empty 1-D label arrays of equal length, got shapes "
                        f"{true_labels.shape} and {cluster_ids.shape}")
    table = contingency_matrix(true_labels, cluster_ids)  # [classes, clusters]
    n = true_labels.size
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {
        "nmi": float(normalized_mutual_info_score(true_labels, cluster_ids)),
        "purity": float(table.max(axis=0).sum() / n),
        "inverse_purity": float(table.max(axis=1).sum() / n),
        "ari": float(adjusted_rand_score(true_labels, cluster_ids)),
        "hungarian_accuracy": float(table[rows, cols].sum() / n),
    }
