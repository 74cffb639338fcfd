"""Metric arithmetic (stylegan2.metrics.arithmetic) against independent NumPy/SciPy computations and hand values."""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.special
from scipy.spatial.distance import cdist
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from stylegan2.errors import UserError
from stylegan2.metrics import arithmetic as m


def _rng(seed=0):
    return np.random.RandomState(seed)


# --------------------------------------------------------------------------------------------- independent maths


def _np_fid(a, b):
    """FID with Tr sqrt(S1 S2) = sum of square roots of the eigenvalues of S1 S2 (no sqrtm, no SVD)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2).real
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum()


def _np_mmd2(r, g):
    d = r.shape[1]
    k_rr, k_rg, k_gg = ((r @ r.T) / d + 1) ** 3, ((r @ g.T) / d + 1) ** 3, ((g @ g.T) / d + 1) ** 3
    m_, n_ = len(r), len(g)
    return ((k_rr.sum() - np.trace(k_rr)) / (m_ * (m_ - 1)) + (k_gg.sum() - np.trace(k_gg)) / (n_ * (n_ - 1))
            - 2 * k_rg.mean())


def _blocks(n, n_blocks):
    v, plus = divmod(n, n_blocks)
    sizes = [v] * (n_blocks - plus) + [v + 1] * plus
    return np.split(np.arange(n), np.cumsum(sizes)[:-1])


def _np_kid(r, g, max_block_size):
    n_blocks = math.ceil(max(len(r), len(g)) / max_block_size)
    ests = np.array([_np_mmd2(r[i], g[j]) for i, j in zip(_blocks(len(r), n_blocks), _blocks(len(g), n_blocks))])
    std = np.sqrt(ests.var(ddof=1) / n_blocks) if n_blocks > 1 else np.nan
    return ests.mean(), std


def _np_inception_score(logits, splits):
    scores = []
    n = len(logits)
    for i in range(splits):
        p = scipy.special.softmax(logits[i * n // splits:(i + 1) * n // splits], axis=1)
        kl = (p * (np.log(p) - np.log(p.mean(0, keepdims=True)))).sum(1).mean()
        scores.append(np.exp(kl))
    return np.mean(scores), np.std(scores)


def _brute_pr(real, fake, k):
    def radii(x):
        return np.sort(cdist(x, x, "sqeuclidean"), axis=1)[:, k]

    precision = (cdist(fake, real, "sqeuclidean") <= radii(real)[None]).any(1).mean()
    recall = (cdist(real, fake, "sqeuclidean") <= radii(fake)[None]).any(1).mean()
    return precision, recall


def _one_line_user_error(fn, *args, match=None, **kwargs):
    with pytest.raises(UserError, match=match) as err:
        fn(*args, **kwargs)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------- TF-GAN import


def test_arithmetic_import_does_not_import_tfgan():
    code = ("import sys, stylegan2.metrics.arithmetic; "
            "assert 'tensorflow_gan' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tfgan_shim_is_idempotent():
    from stylegan2.metrics.tfgan import install_estimator_shim, tfgan

    install_estimator_shim()
    install_estimator_shim()
    assert tfgan() is tfgan()
    assert hasattr(tfgan().eval, "frechet_classifier_distance_from_activations")


# --------------------------------------------------------------------------------------------- FID


def test_fid_matches_numpy_and_statistics():
    a = _rng(0).randn(300, 16)
    b = _rng(1).randn(400, 16) @ _rng(2).randn(16, 16) * 0.3 + 0.5
    expected = _np_fid(a, b)
    assert m.fid_from_activations(a, b) == pytest.approx(expected, rel=1e-4)
    stats = m.activation_statistics(a) + m.activation_statistics(b)
    assert m.fid_from_statistics(*stats) == pytest.approx(expected, rel=1e-4)
    assert m.fid_from_activations(a.astype(np.float32), b) == pytest.approx(expected, rel=1e-4)


def test_fid_of_identical_sets_is_zero():
    a = _rng(3).randn(200, 8) * 3 + 1
    assert abs(m.fid_from_activations(a, a)) < 1e-8
    assert abs(m.fid_from_statistics(*m.activation_statistics(a), *m.activation_statistics(a))) < 1e-8


def test_fid_of_two_known_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 0.0, -1.0, 1.0])
    var1, var2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([4.0, 1.0, 0.25, 0.5])
    analytic = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert m.fid_from_statistics(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(analytic, rel=1e-12)
    n = 20000
    a = mu1 + _rng(4).randn(n, 4) * np.sqrt(var1)
    b = mu2 + _rng(5).randn(n, 4) * np.sqrt(var2)
    assert m.fid_from_activations(a, b) == pytest.approx(analytic, abs=0.1)


def test_fid_singular_covariance_stays_finite():
    a = np.zeros((50, 3))
    a[:, 0] = _rng(6).randn(50)
    assert np.isfinite(m.fid_from_statistics(*m.activation_statistics(a), *m.activation_statistics(a)))
    assert abs(m.fid_from_activations(a, a)) < 1e-6


# --------------------------------------------------------------------------------------------- KID


def test_kid_single_block_matches_numpy_and_std_is_nan():
    r, g = _rng(7).randn(200, 12), _rng(8).randn(150, 12) + 0.3
    kid, std = m.kid_from_activations(r, g)
    assert kid == pytest.approx(_np_mmd2(r, g), rel=1e-4)
    assert math.isnan(std)


@pytest.mark.parametrize("n_real,n_fake", [(300, 300), (300, 200), (250, 301)])
def test_kid_blocks_match_numpy(n_real, n_fake):
    r, g = _rng(9).randn(n_real, 10), _rng(10).randn(n_fake, 10) * 1.2
    kid, std = m.kid_from_activations(r, g, max_block_size=100)
    expected_kid, expected_std = _np_kid(r, g, 100)
    assert kid == pytest.approx(expected_kid, rel=1e-4)
    assert std == pytest.approx(expected_std, rel=1e-4)


# --------------------------------------------------------------------------------------------- IS


def test_inception_score_matches_numpy_on_1008_logits():
    logits = _rng(11).randn(200, 1008) * 3
    mean, std = m.inception_score_from_logits(logits, num_splits=10)
    expected_mean, expected_std = _np_inception_score(logits, 10)
    assert mean == pytest.approx(expected_mean, rel=1e-4)
    assert std == pytest.approx(expected_std, rel=1e-4)


def test_inception_score_hand_values():
    confident = np.eye(10)[np.arange(100) % 10] * 1e3
    assert m.inception_score_from_logits(confident, num_splits=1) == pytest.approx((10.0, 0.0), abs=1e-6)
    assert m.inception_score_from_logits(np.zeros((40, 10)), num_splits=4) == pytest.approx((1.0, 0.0), abs=1e-9)


# --------------------------------------------------------------------------------------------- precision / recall


def test_precision_recall_hand_example():
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[2.1], [10.0], [-0.5]])
    # real radii^2 (k=1) = 1, 1, 4; fake radii^2 = 6.76, 6.76, 62.41
    assert m.precision_recall(real, fake, k=1) == pytest.approx((2 / 3, 1.0))


def test_precision_recall_identical_and_disjoint_clouds():
    a = _rng(12).randn(300, 8)
    assert m.precision_recall(a, a.copy()) == (1.0, 1.0)
    assert m.precision_recall(a, a + 100.0) == (0.0, 0.0)


def test_precision_recall_half_inside():
    real = _rng(13).randn(400, 6)
    fake = np.concatenate([real[:200], _rng(14).randn(200, 6) + 50.0])
    precision, recall = m.precision_recall(real, fake, dtype=np.float64)
    assert precision == 0.5
    assert (precision, recall) == pytest.approx(_brute_pr(real, fake, 3))
    assert 0.5 <= recall < 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_precision_recall_batched_equals_brute_force(dtype):
    real, fake = _rng(15).randn(230, 5), _rng(16).randn(170, 5) * 1.3 + 0.4
    expected = _brute_pr(real, fake, 3)
    assert m.precision_recall(real, fake, k=3, row_batch=7, col_batch=13, dtype=dtype) == pytest.approx(expected)
    assert m.precision_recall(real, fake, k=3, dtype=dtype) == pytest.approx(expected)
    assert m.precision_recall(real, fake, k=5, row_batch=64, col_batch=4) == pytest.approx(_brute_pr(real, fake, 5))


# --------------------------------------------------------------------------------------------- PRD


def test_prd_from_histograms_hand_values():
    hist = np.array([0.2, 0.3, 0.5])
    precision, recall = m.prd_from_histograms(hist, hist, num_angles=5)
    slopes = np.tan(np.linspace(1e-10, math.pi / 2 - 1e-10, 5))
    np.testing.assert_allclose(precision, np.minimum(slopes, 1), rtol=1e-12)
    np.testing.assert_allclose(recall, np.minimum(1 / slopes, 1), rtol=1e-9)
    assert m.max_f_beta_pair(precision, recall) == pytest.approx((1.0, 1.0), abs=1e-8)
    p, r = m.prd_from_histograms([1.0, 0.0], [0.0, 1.0])
    assert not p.any() and not r.any()


def test_prd_curve_same_and_disjoint_distributions():
    ref = _rng(17).randn(400, 4)
    same = m.max_f_beta_pair(*m.prd_curve(ref, _rng(18).randn(400, 4), num_clusters=5, num_runs=2, seed=0))
    far = m.max_f_beta_pair(*m.prd_curve(ref, _rng(19).randn(400, 4) + 100, num_clusters=5, num_runs=2, seed=0))
    assert min(same) > 0.8
    assert max(far) < 1e-6


# --------------------------------------------------------------------------------------------- modes and KL


def test_mode_counts_and_kl_hand_values():
    preds = np.array([0, 0, 1, 2])
    assert m.mode_counts(preds, 4) == 3
    assert m.kl_to_uniform(preds, 4) == pytest.approx(0.5 * math.log(2), rel=1e-12)
    assert m.reverse_kl_log10(preds, 4) == pytest.approx(0.5 * math.log10(2), rel=1e-12)
    assert m.kl_to_uniform(np.full(7, 3), 1000) == pytest.approx(math.log(1000), rel=1e-12)
    assert m.reverse_kl_log10(np.full(7, 3), 1000) == pytest.approx(3.0, rel=1e-12)
    assert m.kl_to_uniform(np.arange(1000), 1000) == 0.0
    assert m.mode_counts(np.eye(5)[[4, 4, 1]], 5) == 2


def test_kl_matches_ig_histogram_formula():
    preds = _rng(20).randint(0, 50, size=333)
    p = np.histogram(preds, bins=np.arange(51), density=True)[0]
    expected = sum(pi * np.log(pi / (1 / 50)) for pi in p if pi > 0)
    assert m.kl_to_uniform(preds, 50) == pytest.approx(expected, rel=1e-12)


def test_stacked_predictions_match_dataset_labels():
    from stylegan2.dataset_tool.common import stack_digits

    classes = _rng(21).randint(0, 10, size=40)
    digits = np.zeros((40, 32, 32), np.uint8)
    digits[:, 0, 0] = np.arange(40)
    images, labels = stack_digits(digits, classes, 64, seed=5)
    per_channel = classes[images[:, :, 0, 0]]  # [64, 3]: the digit drawn into each channel
    np.testing.assert_array_equal(m.stacked_predictions(per_channel), labels)
    np.testing.assert_array_equal(m.stacked_predictions(np.stack(list(per_channel.T), axis=1)), labels)
    np.testing.assert_array_equal(m.stacked_predictions(np.eye(10)[per_channel]), labels)
    assert m.stacked_predictions([[1, 2, 3]]).tolist() == [321]


# --------------------------------------------------------------------------------------------- cluster metrics


def test_cluster_metrics_hand_example():
    true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    clusters = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 3])
    got = m.cluster_metrics(true, clusters)
    assert got["purity"] == pytest.approx(0.9)
    assert got["inverse_purity"] == pytest.approx(0.8)
    assert got["hungarian_accuracy"] == pytest.approx(0.8)
    assert got["nmi"] == pytest.approx(normalized_mutual_info_score(true, clusters), rel=1e-12)
    assert got["ari"] == pytest.approx(adjusted_rand_score(true, clusters), rel=1e-12)


def test_cluster_metrics_purity_conventions_and_permutation():
    merged = m.cluster_metrics([0, 0, 1, 1], [7, 7, 7, 7])
    assert (merged["purity"], merged["inverse_purity"], merged["hungarian_accuracy"]) == (0.5, 1.0, 0.5)
    true = _rng(22).randint(0, 5, size=100)
    permuted = m.cluster_metrics(true, np.array([3, 0, 4, 1, 2])[true])
    assert permuted == pytest.approx({"nmi": 1.0, "purity": 1.0, "inverse_purity": 1.0, "ari": 1.0,
                                      "hungarian_accuracy": 1.0})


def test_hungarian_beats_greedy():
    # cluster 0 is mostly class 0, but matching it to class 1 frees class 0 for cluster 1: 3 + 3 vs greedy 3 + 1
    true = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 1])
    clusters = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    assert m.cluster_metrics(true, clusters)["hungarian_accuracy"] == pytest.approx(0.6)


# --------------------------------------------------------------------------------------------- user errors


def test_bad_inputs_give_one_line_user_errors():
    a, b = np.zeros((10, 4)), np.zeros((10, 5))
    _one_line_user_error(m.fid_from_activations, a, b, match="4 features .* 5")
    _one_line_user_error(m.kid_from_activations, a, b, match="same feature network")
    _one_line_user_error(m.precision_recall, a, b)
    _one_line_user_error(m.precision_recall, np.ones((3, 2)), np.ones((9, 2)), k=3, match="more than 3")
    _one_line_user_error(m.fid_from_activations, np.zeros(10), a, match="2-D")
    _one_line_user_error(m.fid_from_activations, np.full((5, 4), np.nan), a, match="finite")
    _one_line_user_error(m.activation_statistics, np.zeros((1, 4)), match="at least 2")
    _one_line_user_error(m.fid_from_statistics, np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    _one_line_user_error(m.inception_score_from_logits, np.zeros((5, 10)), num_splits=10, match="num_splits")
    _one_line_user_error(m.mode_counts, [0, 1, 10], 10, match=r"\[0, 10\)")
    _one_line_user_error(m.kl_to_uniform, [0.5, 1.0], 10, match="integers")
    _one_line_user_error(m.kl_to_uniform, np.zeros((3, 4)), 10, match="4 classes")
    _one_line_user_error(m.stacked_predictions, np.zeros((5, 2), int), match=r"\[N, 3\]")
    _one_line_user_error(m.stacked_predictions, [[1, 2, 10]], match="0, 10")
    _one_line_user_error(m.cluster_metrics, [0, 1], [0, 1, 2], match="equal length")
    _one_line_user_error(m.prd_curve, a, np.zeros((9, 4)), enforce_balance=True, match="equal counts")
