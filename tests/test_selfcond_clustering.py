"""selfcond.clustering against literal NumPy transcriptions of the original's clusterers (stevliu/self-conditioned-gan
clusterers/*.py) and on blob fixtures whose features move between re-clusterings."""

import itertools
import random
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from selfcond import clustering
from selfcond.clustering import make_clusterer

K = 6


class ArrayFeatures:
    """A feature source over NumPy arrays: `live_fn` is the "training network"; snapshot() freezes it."""

    def __init__(self, live_fn):
        self.live_fn = live_fn
        self.frozen_fn = None
        self.snapshots = 0

    def snapshot(self):
        self.frozen_fn = self.live_fn
        self.snapshots += 1

    def frozen(self, x):
        return self.frozen_fn(np.asarray(x))

    def live(self, x):
        return self.live_fn(np.asarray(x))


def blobs(n_per, k=K, dim=3, seed=0, spread=0.05):
    """k well-separated Gaussian blobs: points [k*n_per, dim] and their blob index."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * rng.standard_normal((k, dim))
    blob = np.repeat(np.arange(k), n_per)
    return centres[blob] + spread * rng.standard_normal((len(blob), dim)), blob, centres


def moved_blobs(centres, perm):
    """Features in which every point of blob b sits where blob perm[b] was: the clustering is the same, but a
    k-means from scratch numbers its clusters independently."""
    def fn(x):
        b = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        return x - centres[b] + centres[perm[b]]
    return fn


# === Literal transcriptions of the original (clusterers/selfcondgan.py, online.py) ===


def orig_get_initialization(features, labels, k):
    """clusterers/selfcondgan.py L17-33, with len(features) for the crashing features.size(0)."""
    means = []
    for i in range(k):
        mask = (labels == i)
        mean = np.zeros(features[0].shape)
        numels = mask.astype(int).sum()
        if numels > 0:
            for index, equal in enumerate(mask):
                if equal:
                    mean += features[index]
            means.append(mean / numels)
        else:
            rand_point = random.randint(0, len(features) - 1)
            means.append(features[rand_point])
    return np.array(means)


def orig_hungarian_match(flat_preds, flat_targets, k):
    """clusterers/selfcondgan.py L61-82 (scipy in place of sklearn's removed linear_assignment) + L52."""
    from scipy.optimize import linear_sum_assignment
    num_correct = np.zeros((k, k))
    for c1 in range(k):
        for c2 in range(k):
            num_correct[c1, c2] = int(((flat_preds == c1) * (flat_targets == c2)).sum())
    match = np.stack(linear_sum_assignment(flat_targets.shape[0] - num_correct), axis=1)
    res = [(out_c, gt_c) for out_c, gt_c in match]
    return [int(j) for i, j in sorted(res)]


# === Building blocks ===


def test_nearest_centroid_is_kmeans_predict():
    from sklearn.cluster import KMeans
    x, _, _ = blobs(50, seed=1, spread=3.0)
    km = KMeans(n_clusters=K, n_init=1, random_state=0).fit(x)
    np.testing.assert_array_equal(clustering.nearest_centroid(x, km.cluster_centers_), km.predict(x))


def test_warm_start_equals_original_construction():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((500, 7)).astype(np.float32)
    labels = rng.integers(0, K, 500)
    ours = clustering.warm_start_centroids(features, labels, K, np.random.default_rng(0))
    np.testing.assert_allclose(ours, orig_get_initialization(features, labels, K), rtol=1e-12, atol=1e-12)


def test_warm_start_empty_cluster_draws_a_feature_point():
    rng = np.random.default_rng(4)
    features = rng.standard_normal((300, 5))
    labels = rng.integers(0, K, 300)
    labels[labels == 2] = 0
    labels[labels == 4] = 1
    ours = clustering.warm_start_centroids(features, labels, K, np.random.default_rng(7))
    expected = orig_get_initialization(features, labels, K)
    for i in (0, 1, 3, 5):
        np.testing.assert_allclose(ours[i], expected[i], rtol=1e-12)
    draws = np.random.default_rng(7).integers(len(features), size=2)  # one draw per empty cluster, in order
    np.testing.assert_array_equal(ours[2], features[draws[0]])
    np.testing.assert_array_equal(ours[4], features[draws[1]])


@pytest.mark.parametrize("seed", range(4))
def test_match_clusters_equals_original_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = 5
    old = rng.integers(0, k, 400)
    perm = rng.permutation(k)
    new = perm[old]
    noisy = rng.random(400) < 0.3
    new[noisy] = rng.integers(0, k, noisy.sum())
    mapping = clustering.match_clusters(new, old, k)
    assert list(mapping) == orig_hungarian_match(new, old, k)
    overlap = lambda m: sum(int(((new == a) & (old == m[a])).sum()) for a in range(k))  # noqa: E731
    assert overlap(mapping) == max(overlap(p) for p in itertools.permutations(range(k)))
    np.testing.assert_array_equal(mapping[perm], np.arange(k))  # mostly permuted labels: the permutation undone


# === The selfcondgan clusterer ===


def make(name="selfcondgan", n_per=60, seed=0, live_fn=None, **options):
    x, blob, centres = blobs(n_per, seed=seed)
    features = ArrayFeatures(live_fn or (lambda a: a))
    return make_clusterer(name, K, x_cluster=x, features=features, seed=seed, **options), x, blob, centres


def test_first_clustering_finds_the_blobs_and_counts_them():
    c, x, blob, _ = make()
    c.recluster()
    assert c.features.snapshots == 1
    labels = c.get_labels(x)
    np.testing.assert_array_equal(labels, c.x_labels)
    # one label per blob
    assert all(len(np.unique(labels[blob == b])) == 1 for b in range(K))
    assert len(np.unique(labels)) == K
    np.testing.assert_allclose(c.label_distribution(), np.bincount(c.x_labels, minlength=K) / len(x))


@pytest.mark.parametrize("initialization,matching", [(False, True), (True, True), (True, False)])
def test_labels_stay_stable_when_features_are_permuted(initialization, matching):
    """Between two re-clusterings every blob's features move to another blob's place. Matching (or the warm start,
    which seeds cluster i from the points labelled i) keeps each point's label."""
    c, x, blob, centres = make(initialization=initialization, matching=matching)
    c.recluster()
    before = c.get_labels(x)
    perm = np.array([3, 0, 5, 1, 2, 4])
    c.features.live_fn = moved_blobs(centres, perm)
    c.recluster()
    np.testing.assert_array_equal(c.x_labels, before)
    np.testing.assert_array_equal(c.get_labels(x), before)
    fresh, fresh_blob, _ = blobs(10, seed=0, spread=0.05)
    np.testing.assert_array_equal(c.get_labels(fresh), before[np.searchsorted(blob, fresh_blob)])
    if not initialization:
        assert not np.array_equal(c.mapping, np.arange(K))  # k-means from scratch numbered them differently


def test_without_warm_start_and_matching_labels_are_permuted():
    c, x, _, centres = make(initialization=False, matching=False)
    c.recluster()
    before = c.get_labels(x)
    c.features.live_fn = moved_blobs(centres, np.array([3, 0, 5, 1, 2, 4]))
    c.recluster()
    after = c.get_labels(x)
    assert not np.array_equal(after, before)
    # same partition, other numbers
    assert len(set(zip(before.tolist(), after.tolist()))) == K


def test_recluster_warm_starts_kmeans_from_the_original_construction(monkeypatch):
    inits = []

    class SpyKMeans(clustering.KMeans):
        def fit(self, X, y=None, sample_weight=None):
            inits.append((self.init if isinstance(self.init, str) else np.array(self.init), self.n_init, X.copy()))
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(clustering, "KMeans", SpyKMeans)
    c, x, _, _ = make()
    c.recluster()
    old_labels = c.x_labels.copy()
    c.features.live_fn = lambda a: 2.0 * a + 1.0
    c.recluster()
    assert inits[0][0] == "k-means++" and inits[0][1] == 10
    init, n_init, feats = inits[1]
    assert n_init == 1
    np.testing.assert_allclose(feats, 2.0 * x + 1.0)
    np.testing.assert_allclose(init, orig_get_initialization(feats, old_labels, K), rtol=1e-10)


def test_empty_clusters_at_recluster():
    """A cluster set with 3 distinct points and k = 6 leaves clusters empty; the warm start seeds them from
    feature points (the original would raise TypeError on features.size(0))."""
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]), 20, axis=0)
    c = make_clusterer("selfcondgan", K, x_cluster=x, features=ArrayFeatures(lambda a: a), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c.recluster()
        assert len(np.unique(c.x_labels)) == 3  # 3 of the 6 clusters are empty
        c.recluster()
    assert np.isfinite(c.centroids).all()
    labels = c.get_labels(x)
    assert all(len(np.unique(labels[i * 20:(i + 1) * 20])) == 1 for i in range(3))
    assert len(np.unique(labels)) == 3


def test_labels_use_the_frozen_snapshot_until_the_next_recluster():
    c, x, _, centres = make()
    c.recluster()
    before = c.get_labels(x)
    c.features.live_fn = moved_blobs(centres, np.array([1, 2, 3, 4, 5, 0]))  # the live network moves on
    np.testing.assert_array_equal(c.get_labels(x), before)


def roundtrip(state, tmp_path):
    """Through an .npz file without pickles, as a trainer's checkpoint stores it."""
    path = tmp_path / "clusterer.npz"
    np.savez(path, **state)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name,options", [("selfcondgan", {}), ("selfcondgan", {"initialization": False}),
                                          ("online", {}), ("random_labels", {})])
def test_state_round_trip_gives_identical_labels(name, options, tmp_path):
    c, x, _, centres = make(name, **options)
    c.recluster()
    c.features.live_fn = moved_blobs(centres, np.array([1, 0, 2, 3, 5, 4]))
    c.recluster(x_batch=x[:50])
    c.get_labels(x)
    state = roundtrip(c.state_dict(), tmp_path)
    d = make_clusterer(name, K, x_cluster=x, features=c.features, seed=99, **options)  # another seed: state wins
    d.load_state_dict(state)
    query = np.random.default_rng(9).standard_normal((200, 3)) * 10
    np.testing.assert_array_equal(d.get_labels(query), c.get_labels(query))
    # and the futures agree: the random generator's state came along
    c.features.live_fn = moved_blobs(centres, np.array([2, 1, 0, 4, 3, 5]))
    c.recluster(x_batch=x[50:100])
    d.recluster(x_batch=x[50:100])
    np.testing.assert_array_equal(d.get_labels(query), c.get_labels(query))
    if name != "random_labels":
        np.testing.assert_array_equal(d.centroids, c.centroids)
        np.testing.assert_array_equal(d.x_labels, c.x_labels)
        np.testing.assert_array_equal(d.mapping, c.mapping)


def test_load_state_dict_refuses_another_clusterer(tmp_path):
    c, _, _, _ = make("selfcondgan")
    c.recluster()
    d, _, _, _ = make("online")
    with pytest.raises(ValueError, match="selfcondgan"):
        d.load_state_dict(c.state_dict())


# === Baselines ===


def test_supervised_returns_the_ground_truth():
    c = make_clusterer("supervised", 8)
    y = np.array([3, 1, 7, 0])
    c.recluster()
    np.testing.assert_array_equal(c.get_labels(np.zeros((4, 2)), y), y)
    np.testing.assert_allclose(c.label_distribution(), np.full(8, 1 / 8))


def test_unconditional_is_one_label():
    c = make_clusterer("unconditional", 50)
    assert c.k == 1
    np.testing.assert_array_equal(c.get_labels(np.ones((5, 2))), np.zeros(5))
    np.testing.assert_array_equal(c.label_distribution(), [1.0])


def test_random_labels_are_fresh_uniform_and_ignore_x():
    c = make_clusterer("random_labels", 10, seed=3)
    x = np.zeros((20000, 2))
    a, b = c.get_labels(x), c.get_labels(x)
    assert a.min() == 0 and a.max() == 9
    assert not np.array_equal(a, b)
    counts = np.bincount(np.concatenate([a, b]), minlength=10)
    chi2 = ((counts - 4000.0) ** 2 / 4000.0).sum()
    assert chi2 < 30  # 9 degrees of freedom: p < 0.001 beyond 27.9
    np.testing.assert_allclose(c.label_distribution(), np.full(10, 0.1))


def orig_online_update(centroids, counts, features):
    """clusterers/online.py L48-59: predict the whole batch first, then MacQueen steps in order."""
    centroids, counts = centroids.copy(), counts.copy()
    y_pred = np.argmin(((features[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    for xi, yi in zip(features, y_pred):
        counts[yi] += 1
        centroids[yi] = centroids[yi] + 1.0 / counts[yi] * (xi - centroids[yi])
    return centroids, counts


def test_online_clusterer_follows_the_original():
    c, x, blob, centres = make("online")
    c.recluster()  # k-means++ on the frozen copy
    first_labels = c.x_labels.copy()
    shift = np.array([100.0, 0.0, 0.0])
    c.features.live_fn = lambda a: a + shift  # the live network differs from the frozen one
    c.recluster()  # burn-in: warm-started k-means on the live features; the cluster set's labels stay
    assert c.burned_in and c.features.snapshots == 1
    np.testing.assert_array_equal(c.x_labels, first_labels)
    for label in range(K):
        np.testing.assert_allclose(c.centroids[label], (x + shift)[first_labels == label].mean(0), rtol=1e-5)
    np.testing.assert_array_equal(c.get_labels(x), first_labels)  # labels now from the live network
    np.testing.assert_array_equal(c.mapping, np.arange(K))
    batch = x[::7]
    expected, counts = orig_online_update(c.centroids.astype(np.float64), np.zeros(K, np.int64), batch + shift)
    c.recluster(x_batch=batch)
    np.testing.assert_allclose(c.centroids, expected, rtol=1e-12)
    np.testing.assert_array_equal(c.counts, counts)
    with pytest.raises(ValueError, match="x_batch"):
        c.recluster()


def test_unknown_clusterer_and_missing_inputs():
    with pytest.raises(ValueError, match="unknown clusterer"):
        make_clusterer("kmeans", 5)
    with pytest.raises(ValueError, match="cluster set"):
        make_clusterer("selfcondgan", 5)
    c, x, _, _ = make()
    with pytest.raises(ValueError, match="recluster"):
        c.get_labels(x)
