"""Exact nearest-neighbour rebuild (inclusive.knn) speed and memory: raw pixels and randomly projected.

    .venv/bin/python bench/bench_knn.py [--queries 10000] [--candidates 100000] [--resolution 32] [--channels 3]
        [--chunk 256] [--query-block 4096] [--init-proj-dim 0] [--modes raw,proj] [--exclusive-k 0]

Queries and candidates are uniform in [-1,1] (images of resolution^2*channels values, D=3072 at 32x32x3).
Candidates are produced chunk by chunk (`--chunk`, IG's candidate_batch_size is 256), as G would produce them,
so the full candidate matrix never exists. `proj` multiplies each chunk and the queries by the Gaussian projector
(`--init-proj-dim`: 0 = IG's Johnson-Lindenstrauss bound for the candidate count, k = k dims).
Each mode runs in its own subprocess, so its peak resident memory (ru_maxrss) is its own. Prints, per mode:
the time of one rebuild pass, the time of the same pass with the search removed (chunk generation and
projection only), candidates/s, peak RSS and TensorFlow's allocator peak when the device reports one.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="2")


def one_mode(args):
    import numpy as np
    import tensorflow as tf

    from inclusive import knn, projection

    dim = args.resolution * args.resolution * args.channels
    proj_dim = projection.proj_dim_for(args.init_proj_dim if args.mode == "proj" else None, args.candidates, dim)
    projector = None
    if args.mode == "proj":
        projector = tf.constant(projection.random_projector(dim, proj_dim, seed=0), tf.float32)
    shape = [args.resolution, args.resolution, args.channels]

    def images(n, seed):
        return tf.random.stateless_uniform([n, *shape], seed=[seed, 0], minval=-1.0, maxval=1.0)

    queries = tf.concat([projection.image_features(images(min(args.chunk, args.queries - s), 1000 + i), projector)
                         for i, s in enumerate(range(0, args.queries, args.chunk))], axis=0)

    def candidate_chunks():
        for i, start in enumerate(range(0, args.candidates, args.chunk)):
            yield projection.image_features(images(min(args.chunk, args.candidates - start), i), projector)

    # Warm-up (traces the tf.functions for both chunk shapes).
    knn.retrieve(queries[:8], lambda: (c for _, c in zip(range(2), candidate_chunks())), exclusive_k=args.exclusive_k)
    start = time.perf_counter()
    for _ in candidate_chunks():
        pass
    gen_seconds = time.perf_counter() - start
    start = time.perf_counter()
    idx, dist = knn.retrieve(queries, candidate_chunks, exclusive_k=args.exclusive_k, query_block=args.query_block)
    seconds = time.perf_counter() - start
    tf_peak = None
    for device in ("GPU:0", "CPU:0"):
        try:
            tf_peak = tf.config.experimental.get_memory_info(device)["peak"]
            break
        except (ValueError, tf.errors.NotFoundError):
            continue
    return {"mode": args.mode, "dim": dim, "feature_dim": int(queries.shape[1]), "seconds": seconds,
            "gen_seconds": gen_seconds, "candidates_per_s": args.candidates / seconds,
            "pairs_per_s": args.candidates * args.queries / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tf_peak_mb": tf_peak / 2**20 if tf_peak is not None else None,
            "mean_dist": float(np.mean(dist)), "unique": len(np.unique(idx))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--queries", type=int, default=10000, help="real images (IG: data_size)")
    p.add_argument("--candidates", type=int, default=100000, help="generated candidates (data_size * factor)")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--chunk", type=int, default=256, help="candidates per chunk (IG --candidate-batch-size)")
    p.add_argument("--query-block", type=int, default=4096, help="queries per distance block")
    p.add_argument("--init-proj-dim", type=int, default=0, help="projection for mode proj: 0 = JL bound, k = k dims")
    p.add_argument("--exclusive-k", type=int, default=0, help="> 0: exclusive retrieval over k neighbours")
    p.add_argument("--modes", default="raw,proj", help="comma list of raw, proj")
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        print(json.dumps(one_mode(args)), flush=True)
        return
    print(f"exact kNN rebuild: {args.queries} queries x {args.candidates} candidates, images "
          f"{args.resolution}x{args.resolution}x{args.channels}, chunk {args.chunk}, query block {args.query_block}, "
          f"exclusive_k {args.exclusive_k}, {os.cpu_count()} CPUs", flush=True)
    for mode in args.modes.split(","):
        argv = [f"--{name.replace('_', '-')}={value}" for name, value in vars(args).items()
                if name not in ("modes", "mode")]
        out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, f"--mode={mode}"],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        tf_peak = f"{r['tf_peak_mb']:.0f} MB" if r["tf_peak_mb"] is not None else "n/a (CPU allocator reports none)"
        print(f"{mode:4s} D={r['dim']} -> {r['feature_dim']}: rebuild {r['seconds']:.1f} s "
              f"(of which chunk generation{'+projection' if mode == 'proj' else ''} {r['gen_seconds']:.1f} s), "
              f"{r['candidates_per_s']:,.0f} candidates/s, {r['pairs_per_s'] / 1e6:,.0f} M pairs/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, TF peak {tf_peak}", flush=True)
        extrapolate(r, args.chunk, args.query_block)


def extrapolate(r, chunk, query_block, queries=30000, candidates=300000, dim=128 * 128 * 3):
    """CelebA-30k as InclusiveGAN's README trains it (30k reals x 300k candidates at 128x128x3, no projection), from
    this run's distance throughput (pairs x dims per second) and the streaming search's memory: the float32 queries,
    one candidate chunk and one distance block, against the original's float64 candidate matrix in RAM."""
    rate = r["pairs_per_s"] * r["feature_dim"]  # multiply-adds per second
    seconds = queries * candidates * dim / rate
    memory = 4 * (queries * dim + chunk * dim + query_block * chunk) / 2**30
    original = 8 * candidates * dim / 2**30
    print(f"     CelebA-30k extrapolation (30,000 x 300,000 at 128x128x3, no projection): {seconds / 3600:.1f} h per "
          f"rebuild at this rate, {memory:.1f} GiB for the search (the original held {original:.0f} GiB of "
          f"candidates)", flush=True)


if __name__ == "__main__":
    main()
