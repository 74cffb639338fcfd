"""Exact nearest-neighbour retrieval from real images to generated candidates (the IMLE rebuild).

InclusiveGAN queries Ke Li's DCI index (approximate, AGPL) with the real images for their nearest generated
candidates (IG:training/training_loop.py L366-406). This is an exact, streaming brute force instead: candidates
arrive chunk by chunk (e.g. G outputs, flattened and projected, so the full candidate matrix never exists), and
for every query a running minimum (or top-k) of the squared Euclidean distance is kept.

Memory: the queries [Q,D], one candidate chunk [C,D], one distance block [query_block, C] and the running
results [Q,k]. Distances are computed in float32 (or `dtype`) as ||c||^2 - 2 q.c, ||q||^2 added at the end;
the values returned are Euclidean distances (not squared), as DCI's compute_dist (IG:dci_code/src/util.c L62-69).
Ties are broken towards the lower candidate index, so results are deterministic.
"""

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError


@tf.function(reduce_retracing=True)
def _update_1nn(q, c, cc, offset, best_d, best_i):
    d = cc[None, :] - 2.0 * tf.matmul(q, c, transpose_b=True)
    j = tf.argmin(d, axis=1, output_type=tf.int64)
    m = tf.gather(d, j, axis=1, batch_dims=1)
    better = m < best_d
    return tf.where(better, m, best_d), tf.where(better, j + offset, best_i)


@tf.function(reduce_retracing=True)
def _update_topk(q, c, cc, offset, best_d, best_i):
    k = tf.shape(best_d)[1]
    d = cc[None, :] - 2.0 * tf.matmul(q, c, transpose_b=True)
    ids = offset + tf.range(tf.shape(c, out_type=tf.int64)[0], dtype=tf.int64)
    all_d = tf.concat([best_d, d], axis=1)
    all_i = tf.concat([best_i, tf.broadcast_to(ids[None, :], tf.shape(d, out_type=tf.int64))], axis=1)
    neg, pos = tf.math.top_k(-all_d, k=k, sorted=True)
    return -neg, tf.gather(all_i, pos, batch_dims=1)


def nearest_neighbors(queries, candidate_chunks, *, k=1, query_block=4096, dtype=tf.float32):
    """Exact k nearest candidates of every query, in one pass over the candidate chunks.

    queries: [Q, D] array or tensor. candidate_chunks: an iterable of [C_i, D] arrays/tensors (any leading shape
    is flattened to D columns), or a callable returning one; candidate n of the concatenation has index n.
    Returns (indices, distances): int64 and float32 NumPy arrays, [Q] when k == 1, else [Q, k] sorted by
    ascending distance (ties: lower index first). Distances are Euclidean (not squared).
    """
    if callable(candidate_chunks):
        candidate_chunks = candidate_chunks()
    q = tf.reshape(tf.cast(tf.convert_to_tensor(queries), dtype), [tf.shape(queries)[0], -1])
    num_queries, dim = int(q.shape[0]), int(q.shape[1])
    blocks = [(s, min(s + (query_block or num_queries), num_queries))
              for s in range(0, num_queries, query_block or max(num_queries, 1))]
    q_blocks = [q[s:e] for s, e in blocks]
    inf = tf.constant(np.inf, dtype)
    if k == 1:
        best = [(tf.fill([e - s], inf), tf.fill([e - s], tf.constant(-1, tf.int64))) for s, e in blocks]
        update = _update_1nn
    else:
        best = [(tf.fill([e - s, k], inf), tf.fill([e - s, k], tf.constant(-1, tf.int64))) for s, e in blocks]
        update = _update_topk
    offset = 0
    for chunk in candidate_chunks:
        c = tf.cast(tf.convert_to_tensor(chunk), dtype)
        c = tf.reshape(c, [tf.shape(c)[0], -1])
        if c.shape[1] != dim:
            raise ValueError(f"candidate chunk has {c.shape[1]} features per row, the queries have {dim}")
        if c.shape[0] == 0:
            continue
        cc = tf.reduce_sum(tf.square(c), axis=1)
        off = tf.constant(offset, tf.int64)
        best = [update(qb, c, cc, off, bd, bi) for qb, (bd, bi) in zip(q_blocks, best)]
        offset += int(c.shape[0])
    if offset < k:
        raise ValueError(f"{offset} candidates for k={k} nearest neighbours")
    if not blocks:
        shape = [0] if k == 1 else [0, k]
        return np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    qq = tf.reduce_sum(tf.square(q), axis=1)
    dist2 = tf.concat([bd for bd, _ in best], axis=0)
    dist2 = dist2 + (qq if k == 1 else qq[:, None])
    distances = tf.sqrt(tf.maximum(dist2, 0.0))
    indices = tf.concat([bi for _, bi in best], axis=0)
    return indices.numpy(), distances.numpy().astype(np.float32)


def exclusive_assignment(indices, distances):
    """IG:training/training_loop.py L382-396 (`--exclusive-retrieved-code 1`) on [Q, k] neighbour lists.

    Queries are taken in order (the dataset order); each takes the first of its k neighbours (by ascending
    distance) that no earlier query has taken; if all k are taken, it takes its nearest neighbour anyway (a
    duplicate). Greedy in query order, not by distance: exactly the original's rule, given exact k-NN lists.
    Returns (indices [Q] int64, distances [Q] float32).
    """
    indices = np.asarray(indices)
    distances = np.asarray(distances)
    taken = set()
    out_i = np.empty(len(indices), np.int64)
    out_d = np.empty(len(indices), np.float32)
    for n, (row_i, row_d) in enumerate(zip(indices.tolist(), distances.tolist())):
        j = next((j for j, idx in enumerate(row_i) if idx not in taken), 0)
        out_i[n], out_d[n] = row_i[j], row_d[j]
        taken.add(row_i[j])
    return out_i, out_d


def retrieve(queries, candidate_chunks, *, exclusive_k=0, **kwargs):
    """The IMLE rebuild's retrieval: 1-NN per query, or with exclusive_k > 0 (IG uses num_samples_factor)
    `exclusive_assignment` over the exact exclusive_k nearest. Returns (indices [Q] int64, distances [Q] float32,
    Euclidean)."""
    if exclusive_k and exclusive_k > 0:
        return exclusive_assignment(*nearest_neighbors(queries, candidate_chunks, k=int(exclusive_k), **kwargs))
    return nearest_neighbors(queries, candidate_chunks, k=1, **kwargs)


def distance_threshold(distances, percentile):
    """IG L406: `np.percentile(selected_dists, dist_thres_percentile)` (linear interpolation), in float64."""
    percentile = float(percentile)
    if not 0.0 <= percentile <= 100.0:
        raise UserError(f"--dist-thres-percentile {percentile:g}: must be between 0 and 100 (100 keeps every pair)")
    return float(np.percentile(np.asarray(distances, np.float64), percentile))


def percentile_mask(distances, percentile):
    """IG L416-417: keep the pairs whose NN distance is <= the percentile threshold (all of them at 100).

    Returns (keep [Q] bool, threshold). IG applies it only when `--attr-interesting` is not given (L416-424).
    """
    threshold = distance_threshold(distances, percentile)
    return np.asarray(distances, np.float64) <= threshold, threshold
