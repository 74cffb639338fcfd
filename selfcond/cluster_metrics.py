"""How well a self-conditioned run's clusters recover the dataset's classes (the original's cluster_metrics.py, and
the unused helpers of gan_training/metrics/clustering_metrics.py), as registered metrics over a snapshot:

    python run_metrics.py --metrics=cluster_metrics,cluster_metrics_random --network=<selfcond snapshot or run dir>

Every record of the dataset (in stored order; mirrored with --mirror-augment, as the original labels augmented
images) is labelled as training labels it: the snapshot's frozen D features (each image on its own), the nearest
centroid, the mapping. Against the dataset's classes (one-hot labels, e.g. Stacked MNIST's 1000):

    cluster_nmi                 normalized mutual information (sklearn's default, arithmetic averaging)
    cluster_purity              standard purity: (1/N) sum over clusters of its largest class count
    cluster_purity_swapped      the number the original prints as "purity": purity_score(y_preds, y_reals) with the
                                arguments swapped, i.e. (1/N) sum over classes of its largest cluster count
    cluster_ari                 adjusted Rand index
    cluster_hungarian_accuracy  the best one-to-one matching of clusters to classes (clustering_metrics.acc)

`cluster_metrics_random` is the original's `--random` chance baseline: uniform random labels in [0, k).
The arithmetic is stylegan2.metrics.arithmetic.cluster_metrics.
"""

import numpy as np

from selfcond.clustering import nearest_centroid
from selfcond.features import feature_function
from stylegan2.errors import UserError
from stylegan2.metrics import arithmetic
from stylegan2.metrics.registry import register_metric

RESULT_NAMES = {"nmi": "cluster_nmi", "purity": "cluster_purity", "inverse_purity": "cluster_purity_swapped",
                "ari": "cluster_ari", "hungarian_accuracy": "cluster_hungarian_accuracy"}


def snapshot_clusters(snapshot, metric):
    """(arrays of the snapshot's clusters, the D its features come from) of a --method selfcond snapshot."""
    if snapshot is None or snapshot.metadata.get("method") != "selfcond" or "clusters" not in snapshot.extras:
        raise UserError(f"{metric}: needs a snapshot of --method selfcond (its clusters of D's features)")
    arrays = snapshot.extras["clusters"].arrays()
    if "centroids" not in arrays:
        clusterer = (snapshot.metadata.get("sampling") or {}).get("clusterer", "?")
        raise UserError(f"{metric}: the snapshot's clusterer ({clusterer}) has no clusters of D's features; use a "
                        f"--clusterer selfcondgan or online run")
    D = snapshot.D if int(arrays["live_features"]) else snapshot.extras["cluster_D"]
    return arrays, D


def label_images(D, centroids, mapping, batches):
    """Cluster labels of image batches: mapping[nearest centroid of D's per-image features]."""
    features = feature_function(D)
    return np.concatenate([mapping[nearest_centroid(features(np.asarray(images)), centroids)]
                           for images in batches])


def cluster_quality(ctx, random):
    metric = "cluster_metrics_random" if random else "cluster_metrics"
    arrays, D = snapshot_clusters(ctx.snapshot, metric)
    num = ctx.count(ctx.dataset.num_images)
    truth = ctx.dataset.class_numbers()[:num]
    k = len(arrays["mapping"])
    if random:
        predicted = np.random.RandomState(ctx.seed).randint(k, size=num)
    else:
        predicted = label_images(D, arrays["centroids"], arrays["mapping"], ctx.reals(num))
    scores = arithmetic.cluster_metrics(truth, predicted)
    info = {"cluster_purity_swapped": "the original's printed 'purity' (purity_score with swapped arguments: the "
                                      "largest cluster of each class)",
            "images": int(num), "clusters": int(k), "classes": int(ctx.dataset.label_dim)}
    return {RESULT_NAMES[key] + ("_random" if random else ""): value for key, value in scores.items()}, info


register_metric("cluster_metrics", cluster_quality, random=False)
register_metric("cluster_metrics_random", cluster_quality, random=True)
