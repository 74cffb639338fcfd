"""Clusterers of the Self-Conditioned GAN: which cluster (label) each real input belongs to, from D's features.

Port of stevliu/self-conditioned-gan `clusterers/` (base_clusterer.py, kmeans.py, selfcondgan.py, online.py,
random_labels.py; the reference notes, section 1). NumPy and scikit-learn only: the caller supplies the features.

The caller hands a clusterer a *feature source* with three methods (the original's deep copy of D, made
framework-free):
    snapshot()   freeze a copy of the current feature network (the original's `copy.deepcopy(discriminator)`);
    frozen(x)    features [N, F] of inputs x from the frozen copy (NumPy);
    live(x)      features [N, F] from the live network (only the `online` clusterer uses it, as the original does).
The frozen copy's weights belong to the caller's checkpoint; everything the clusterer itself owns is plain NumPy
(`state_dict()` / `load_state_dict()`), so a trainer can checkpoint it and resume exactly.

Clusterers (`make_clusterer(name, ...)`):
    selfcondgan    k-means over a fixed cluster set: k-means++ (n_init 10) at the first clustering; afterwards
                   k-means warm-started from the means of the new features under the old labels, then new clusters
                   matched to old ones (Hungarian, on N - overlap). Labels: nearest centroid, then the mapping.
    online         sequential k-means: k-means++ on the frozen copy, then one warm-started k-means on the live
                   network ("burn-in"), then per recluster one MacQueen update (step 1/count) per point of the
                   current real batch; no matching.
    supervised     the ground-truth labels.
    random_labels  fresh uniform labels for every batch.
    unconditional  k = 1: every label is 0.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

CLUSTERERS = ("selfcondgan", "supervised", "random_labels", "online", "unconditional")


# === Building blocks ===


def compute_features(feature_fn, x, batch_size):
    """feature_fn over x in consecutive chunks of batch_size (x: anything sliceable with len) -> one [N, F] array."""
    chunks = [np.asarray(feature_fn(x[start:start + batch_size])) for start in range(0, len(x), batch_size)]
    return np.concatenate(chunks, axis=0)


def nearest_centroid(features, centroids):
    """Index of the nearest centroid (Euclidean; ties to the lower index, as KMeans.predict) of each row."""
    features = np.asarray(features, np.float64)
    centroids = np.asarray(centroids, np.float64)
    # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2; ||x||^2 is the same for every c.
    dist = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * features @ centroids.T
    return np.argmin(dist, axis=1).astype(np.int64)


def warm_start_centroids(features, old_labels, k, rng):
    """Initial centroid i = mean of the new features of the points whose previous label was i.

    The original's get_initialization (clusterers/selfcondgan.py L17-33). A cluster with no points is meant to
    start at a random point of the features; the original writes `random.randint(0, features.size(0) - 1)` on a
    NumPy array, which raises TypeError, so here the point is drawn uniformly with `rng` (one draw per empty
    cluster, in cluster order).
    """
    features = np.asarray(features)
    old_labels = np.asarray(old_labels, np.int64)
    counts = np.bincount(old_labels, minlength=k)
    one_hot = np.zeros((k, len(features)))
    one_hot[old_labels, np.arange(len(features))] = 1.0
    sums = one_hot @ features.astype(np.float64)  # [k, F]
    means = sums / np.maximum(counts, 1)[:, None]
    for i in np.flatnonzero(counts == 0):
        means[i] = features[rng.integers(len(features))]
    return means


def match_clusters(new_labels, old_labels, k):
    """mapping[new] = old maximising the overlap of new and old clusters (Hungarian on N - overlap).

    The original's hungarian_match (clusterers/selfcondgan.py L61-82), with scipy's linear_sum_assignment in place
    of the removed sklearn.utils.linear_assignment_.
    """
    new_labels = np.asarray(new_labels, np.int64)
    old_labels = np.asarray(old_labels, np.int64)
    overlap = np.bincount(new_labels * k + old_labels, minlength=k * k).reshape(k, k)  # [new, old]
    rows, cols = linear_sum_assignment(len(new_labels) - overlap)
    mapping = np.empty(k, np.int64)
    mapping[rows] = cols
    return mapping


def fit_kmeans(features, k, init, n_init, seed):
    """scikit-learn KMeans (Lloyd, max_iter 300, tol 1e-4 as the original's defaults) -> centroids [k, F].

    An array `init` runs one initialisation: scikit-learn does only one then anyway (the original passes n_init=10).
    """
    kmeans = KMeans(n_clusters=k, init=init, n_init=1 if isinstance(init, np.ndarray) else n_init,
                    random_state=seed)
    return kmeans.fit(features).cluster_centers_


def _rng_state(rng):
    """A PCG64 Generator's state as uint64 arrays: [state_hi, state_lo, inc_hi, inc_lo, has_uint32, uinteger]."""
    s = rng.bit_generator.state
    mask = (1 << 64) - 1
    state, inc = s["state"]["state"], s["state"]["inc"]
    return np.array([state >> 64, state & mask, inc >> 64, inc & mask, s["has_uint32"], s["uinteger"]], np.uint64)


def _rng_from_state(arr):
    arr = [int(v) for v in np.asarray(arr, np.uint64)]
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": (arr[0] << 64) | arr[1], "inc": (arr[2] << 64) | arr[3]},
                               "has_uint32": arr[4], "uinteger": arr[5]}
    return rng


# === Clusterers ===


class Clusterer:
    """Base class and the `supervised` clusterer: labels are the ground truth, recluster does nothing.

    Args:
        k:           number of clusters (labels 0..k-1).
        x_cluster:   the fixed cluster set (anything sliceable: array, memmap); k-means clusterers only.
        features:    the feature source (see the module docstring); k-means clusterers only.
        seed:        seed of the clusterer's own random generator (k-means seeds, empty clusters, random labels).
        batch_size:  inputs per feature_fn call (the original's BaseClusterer default, 100; a network without
                     batch-dependent layers gives the same features at any size, so a larger one only saves calls).
    """

    name = "supervised"

    def __init__(self, k, x_cluster=None, features=None, seed=0, batch_size=100):
        self.k = int(k)
        self.x_cluster = x_cluster
        self.features = features
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)

    def recluster(self, x_batch=None):
        """Re-cluster (called before training, then on the trainer's schedule); x_batch = the current real batch."""

    def get_labels(self, x, y=None):
        if y is None:
            raise ValueError("the supervised clusterer needs the ground-truth labels y")
        return np.asarray(y, np.int64)

    def label_distribution(self):
        """p(c) for sampling labels at generation and evaluation time (uniform over k, as the original's sampler)."""
        return np.full(self.k, 1.0 / self.k)

    def state_dict(self):
        return {"name": np.array(self.name), "k": np.array(self.k, np.int64), "rng": _rng_state(self.rng)}

    def load_state_dict(self, state):
        name, k = str(state["name"]), int(state["k"])
        if name != self.name or k != self.k:
            raise ValueError(f"clusterer state is for {name} with k={k}, not {self.name} with k={self.k}")
        self.rng = _rng_from_state(state["rng"])


class UnconditionalClusterer(Clusterer):
    """k = 1: every input gets label 0 (the unconditional GAN baseline)."""

    name = "unconditional"

    def __init__(self, k=1, **kwargs):
        super().__init__(1, **kwargs)

    def get_labels(self, x, y=None):
        return np.zeros(len(x), np.int64)


class RandomLabelsClusterer(Clusterer):
    """Fresh uniform labels in [0, k) for every batch (clusterers/random_labels.py): labels say nothing of x."""

    name = "random_labels"

    def get_labels(self, x, y=None):
        return self.rng.integers(0, self.k, size=len(x), dtype=np.int64)


class KMeansClusterer(Clusterer):
    """Shared part of the k-means clusterers (clusterers/kmeans.py): centroids, mapping, labels of the cluster set."""

    def __init__(self, k, x_cluster=None, features=None, n_init=10, **kwargs):
        if x_cluster is None or features is None:
            raise ValueError(f"the {self.name} clusterer needs a cluster set and a feature source")
        super().__init__(k, x_cluster=x_cluster, features=features, **kwargs)
        self.n_init = n_init
        self.centroids = None                     # [k, F], fitted by the first recluster
        self.mapping = np.arange(self.k)          # mapping[k-means cluster] = label
        self.x_labels = None                      # [N] labels of the cluster set

    def _label_features(self):
        """The function labels are computed with: the frozen copy."""
        return self.features.frozen

    def _fit(self, feats, init):
        seed = int(self.rng.integers(2**31 - 1))
        return fit_kmeans(feats, self.k, init, self.n_init, seed)

    def get_labels(self, x, y=None):
        if self.centroids is None:
            raise ValueError(f"the {self.name} clusterer has not clustered yet: call recluster() first")
        feats = compute_features(self._label_features(), x, self.batch_size)
        return self.mapping[nearest_centroid(feats, self.centroids)]

    def label_distribution(self):
        """Empirical histogram of the cluster set's labels (the original's get_label_distribution, normalised)."""
        counts = np.bincount(self.x_labels, minlength=self.k)
        return counts / counts.sum()

    def state_dict(self):
        state = super().state_dict()
        fitted = self.centroids is not None
        state.update(centroids=self.centroids if fitted else np.zeros((0, 0)), mapping=self.mapping.copy(),
                     x_labels=self.x_labels if self.x_labels is not None else np.zeros(0, np.int64),
                     fitted=np.array(fitted))
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        fitted = bool(state["fitted"])
        self.centroids = np.array(state["centroids"]) if fitted else None
        self.mapping = np.array(state["mapping"], np.int64)
        self.x_labels = np.array(state["x_labels"], np.int64) if len(state["x_labels"]) else None


class SelfCondClusterer(KMeansClusterer):
    """The self-conditioned GAN's clusterer (clusterers/selfcondgan.py).

    Args (besides the base class's):
        initialization: warm-start each re-clustering from the new features' means under the old labels
                        (False: k-means++ from scratch every time; the paper's ablation).
        matching:       Hungarian matching of new clusters to old (False: k-means' own cluster order).
        n_init:         k-means++ restarts (10, the original's).
    """

    name = "selfcondgan"

    def __init__(self, k, initialization=True, matching=True, **kwargs):
        super().__init__(k, **kwargs)
        self.initialization = initialization
        self.matching = matching

    def recluster(self, x_batch=None):
        self.features.snapshot()
        feats = compute_features(self.features.frozen, self.x_cluster, self.batch_size)
        reclustering = self.x_labels is not None
        if reclustering and self.initialization:
            init = warm_start_centroids(feats, self.x_labels, self.k, self.rng)
        else:
            init = "k-means++"
        centroids = self._fit(feats, init)
        new_labels = nearest_centroid(feats, centroids)
        if reclustering and self.matching:
            self.mapping = match_clusters(new_labels, self.x_labels, self.k)
        self.centroids = centroids
        self.x_labels = self.mapping[new_labels]


class OnlineClusterer(KMeansClusterer):
    """Sequential k-means (clusterers/online.py), meant for a small recluster interval.

    1st recluster: k-means++ on the frozen copy. 2nd ("burn-in"): k-means warm-started from the first labels, on
    the live network's features of the cluster set; the cluster set's labels are not updated (as the original).
    Later: each point of x_batch is assigned to its nearest centroid (all first, then updated in order) and moves
    it by (x - mu) / count, count starting at 0 after burn-in, so a cluster's first point replaces its centroid
    (the original's counts). From burn-in on, labels use the live network (the original drops its copy). No
    matching: the mapping stays the identity.
    """

    name = "online"

    def __init__(self, k, **kwargs):
        super().__init__(k, **kwargs)
        self.burned_in = False
        self.counts = np.zeros(self.k, np.int64)

    def _label_features(self):
        return self.features.live if self.burned_in else self.features.frozen

    def recluster(self, x_batch=None):
        if self.centroids is None:
            self.features.snapshot()
            feats = compute_features(self.features.frozen, self.x_cluster, self.batch_size)
            self.centroids = self._fit(feats, "k-means++")
            self.x_labels = nearest_centroid(feats, self.centroids)
        elif not self.burned_in:
            feats = compute_features(self.features.live, self.x_cluster, self.batch_size)
            init = warm_start_centroids(feats, self.x_labels, self.k, self.rng)
            self.centroids = self._fit(feats, init)
            self.burned_in = True
        else:
            if x_batch is None:
                raise ValueError("the online clusterer's updates need the current real batch (x_batch)")
            feats = compute_features(self.features.live, x_batch, self.batch_size).astype(np.float64)
            centroids = self.centroids.astype(np.float64)
            for xi, yi in zip(feats, nearest_centroid(feats, centroids)):
                self.counts[yi] += 1
                centroids[yi] = centroids[yi] + (1.0 / self.counts[yi]) * (xi - centroids[yi])
            self.centroids = centroids.astype(self.centroids.dtype)

    def state_dict(self):
        state = super().state_dict()
        state.update(counts=self.counts.copy(), burned_in=np.array(self.burned_in))
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.counts = np.array(state["counts"], np.int64)
        self.burned_in = bool(state["burned_in"])


_CLASSES = {cls.name: cls for cls in (SelfCondClusterer, Clusterer, RandomLabelsClusterer, OnlineClusterer,
                                      UnconditionalClusterer)}


_KMEANS_OPTIONS = {"selfcondgan": ("initialization", "matching", "n_init"), "online": ("n_init",)}


def make_clusterer(name, k, *, x_cluster=None, features=None, seed=0, batch_size=100, **options):
    """A clusterer by name (one of CLUSTERERS). `options` (initialization, matching, n_init) reach the k-means
    clusterers that take them and are ignored by the others, so one call site serves every name."""
    if name not in _CLASSES:
        raise ValueError(f"unknown clusterer {name!r}; choose from {', '.join(CLUSTERERS)}")
    kwargs = dict(x_cluster=x_cluster, features=features, seed=seed, batch_size=batch_size)
    kwargs.update({key: v for key, v in options.items() if key in _KMEANS_OPTIONS.get(name, ())})
    return _CLASSES[name](k, **kwargs)
