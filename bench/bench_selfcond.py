"""Cost of the Self-Conditioned GAN's clustering on the StyleGAN2 backbone, against one training tick.

    .venv/bin/python bench/bench_selfcond.py --data-dir DIR --dataset stacked_mnist_test50k [--config small]
        [--cluster-images 25000] [--k 100] [--iters 48]

On a real run's state (`TrainingLoop` with `--method selfcond`, the dataset's cluster set of --cluster-images
images): the first clustering (features of the untrained D, k-means++ with 10 restarts), then, after --iters
training iterations, one re-clustering in its parts as selfcond.clustering runs them: the frozen D's features of
the cluster set, the warm start, scikit-learn's k-means from it, the Hungarian matching. Training is timed per
iteration for --method selfcond (host labelling of every real batch included) and --method stylegan2 on the same
data, and a tick is NVIDIA's length at the dataset's resolution (20 kimg at 32 px). The load average is printed
beside each figure: compare only figures measured in turn, in one window.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="3")


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def make_loop(args, method, result_dir, *extra):
    from stylegan2.training import cli
    from stylegan2.training.loop import TrainingLoop

    options, _ = cli.build_options(["--method", method, "--data-dir", args.data_dir, "--dataset", args.dataset,
                                    "--config", args.config, "--batch", str(args.batch), "--result-dir", result_dir,
                                    *extra])
    loop = TrainingLoop(options)
    loop._open_run_dir()
    loop.prepare()
    return loop


def time_iterations(loop, iters):
    """ms per iteration over `iters` iterations (the method's on_step included), after 16 warm-up iterations."""
    for _ in range(16):
        loop.train_iteration()
        loop.method.on_step(loop)
    start = time.perf_counter()
    for _ in range(iters):
        loop.train_iteration()
        loop.method.on_step(loop)
    return 1000 * (time.perf_counter() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", required=True, help="e.g. a create_mnistrgb dataset of 50,000 images")
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--cluster-images", type=int, default=25000)
    parser.add_argument("--iters", type=int, default=48, help="timed training iterations (after 16 warm-up ones)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench_selfcond_")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work):
    import numpy as np

    from selfcond.clustering import (compute_features, fit_kmeans, match_clusters, nearest_centroid,
                                     warm_start_centroids)

    # --recluster-every beyond the timed iterations: the re-clustering is timed on its own below.
    loop = make_loop(args, "selfcond", work, "--k", str(args.k), "--cluster-images", str(args.cluster_images),
                     "--recluster-every", "1000000")
    m = loop.method
    print(f"config {args.config}, {loop.dataset.path}: {loop.dataset.num_images} images "
          f"{'x'.join(map(str, loop.dataset.shape))}, batch {args.batch}, k {args.k}, D features "
          f"{loop.D.fmaps(0)}-d", flush=True)

    start = time.perf_counter()
    m.on_start(loop)  # builds the cluster set, then clusters it on the untrained D (k-means++, n_init 10)
    c = m.clusterer
    print(f"first clustering of {len(c.x_cluster)} images: {time.perf_counter() - start:.1f} s in all (cluster set "
          f"built and saved, features {m.features.seconds:.1f} s)  [{load()}]", flush=True)

    ms_selfcond = time_iterations(loop, args.iters)
    print(f"--method selfcond: {ms_selfcond:.0f} ms/iteration  [{load()}]", flush=True)

    # One re-clustering, in the parts selfcond.clustering.SelfCondClusterer.recluster runs.
    t0 = time.perf_counter()
    m.features.snapshot()
    t1 = time.perf_counter()
    feats = compute_features(m.features.frozen, c.x_cluster, c.batch_size)
    t2 = time.perf_counter()
    init = warm_start_centroids(feats, c.x_labels, c.k, c.rng)
    t3 = time.perf_counter()
    centroids = fit_kmeans(feats, c.k, init, c.n_init, 0)
    labels = nearest_centroid(feats, centroids)
    t4 = time.perf_counter()
    mapping = match_clusters(labels, c.x_labels, c.k)
    t5 = time.perf_counter()
    total = t5 - t0
    print(f"re-clustering {len(feats)} images: D copy {t1 - t0:.2f} s, features {t2 - t1:.1f} s "
          f"({1e3 * (t2 - t1) / len(feats):.2f} ms/image), warm start {t3 - t2:.2f} s, k-means {t4 - t3:.1f} s, "
          f"matching {t5 - t4:.3f} s: {total:.1f} s; {np.mean(mapping[labels] != c.x_labels):.1%} of labels "
          f"changed  [{load()}]", flush=True)

    plain = make_loop(args, "stylegan2", work)
    ms_plain = time_iterations(plain, args.iters)
    print(f"--method stylegan2: {ms_plain:.0f} ms/iteration; selfcond's per-batch labelling costs "
          f"{ms_selfcond / ms_plain - 1:+.1%}  [{load()}]", flush=True)

    tick_kimg = loop.options.tick_kimg(loop.dataset.resolution)
    tick_iters = int(np.ceil(tick_kimg * 1000 / args.batch))
    tick_seconds = tick_iters * ms_selfcond / 1000
    print(f"one tick ({tick_kimg:g} kimg = {tick_iters} iterations): {tick_seconds:.0f} s; one re-clustering = "
          f"{total / tick_seconds:.1%} of a tick", flush=True)
    for every in (25000, 1000, 250):
        print(f"  --recluster-every {every}: re-clustering adds {total / (every * ms_selfcond / 1000):.1%} to "
              f"training time", flush=True)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # the two loops' input pipelines were seen to keep the interpreter from exiting
