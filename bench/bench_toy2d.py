"""Speed of the Self-Conditioned GAN's 2D study (run_toy2d.py) and of its clusterer at image scale.

    .venv/bin/python bench/bench_toy2d.py [--data_type ring|grid] [--clusterer selfcondgan] [--iters 2000]
        [--outdir /tmp/bench_toy2d] [--skip-parts] [--clustering] [--cluster-n 25000] [--cluster-dim 512] [--cluster-k 100]
    .venv/bin/python bench/bench_toy2d.py --original <self-conditioned-gan>/2d_mix --original-python <torch venv python>
        [--data_type ring|grid] [--iters 2000] [--rounds 2]

Training: a real run of --iters iterations (default settings of the original: 100k training points, 50k test
points, k = 50, evaluation with plots and a checkpoint every 1000 iterations, recluster every 5000). Prints the
seconds of each 1000 iterations between consecutive evaluation lines, each including one evaluation: the figure
comparable with the original's 2d_mix/train.py, timed the same way (stamps on its log lines at it = 1000 and
2000). Then the parts: one training iteration (labels of the batch + D step + G step), one evaluation, one
warm-started recluster. The load average is printed beside each figure: compare only figures measured in turn.

--original: ours and the original's 2d_mix/train.py (the same clusterer, data type and iterations; the original
needs PyTorch 1.x-2.x and scikit-learn, e.g. a venv with `pip install torch==2.13.0 scikit-learn`) in turn, --rounds
times (ours, original, ours, original, ...), the run only: both print seconds per 1k iterations between their
evaluation lines at it = 0, 1000, ..., with the load average at each line.

--clustering: the clusterer alone at the image method's scale (--cluster-n features of --cluster-dim dimensions,
k = --cluster-k): the first clustering (k-means++, 10 restarts) and a warm-started recluster with matching.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="3")


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def bench_training(args):
    import numpy as np

    from selfcond.toy2d.options import Toy2DOptions
    from selfcond.toy2d.train import Toy2DRun

    outdir = args.outdir or tempfile.mkdtemp(prefix="bench_toy2d_")
    options = Toy2DOptions(clusterer=args.clusterer, data_type=args.data_type, outdir=outdir,
                           nepochs=max(1, args.iters // 1000))
    shutil.rmtree(options.exp_dir, ignore_errors=True)
    stamps = []

    def log(message):
        stamps.append((time.perf_counter(), message))

    run = Toy2DRun(options, log=log)
    start = time.perf_counter()
    run.train()
    print(f"{options.data_type} {options.clusterer}: {options.total_iters} iterations in "
          f"{time.perf_counter() - start:.1f} s (set-up, tracing and the first clustering included)  [{load()}]")
    for (t0, _), (t1, message) in zip(stamps, stamps[1:]):
        it = message.split(" it ")[1].split("]")[0]
        print(f"  iterations up to {it:>6s}: {t1 - t0:6.1f} s per 1k iterations incl. one evaluation  "
              f"[{message.rsplit('; ', 1)[-1].rstrip(')')}]", flush=True)

    if args.skip_parts:
        if not args.outdir:
            shutil.rmtree(outdir, ignore_errors=True)
        return
    # The parts, on the trained run's state.
    d = run.data
    x, y_gt = d["x_train"][:100], d["y_train"][:100]
    z = np.random.default_rng(0).standard_normal((100, options.z_dim)).astype(np.float32)
    for name, fn in (("labels of a batch", lambda: run.clusterer.get_labels(x, y_gt)),
                     ("D step + G step", lambda: run.train_step(x, run.clusterer.get_labels(x, y_gt).astype(np.int32), z))):
        fn()
        t = time.perf_counter()
        for _ in range(300):
            fn()
        print(f"  {name:18s} {(time.perf_counter() - t) / 300 * 1000:7.2f} ms  [{load()}]")
    t = time.perf_counter()
    run.evaluate(0, 0, 0.0, 0.0)
    print(f"  {'one evaluation':18s} {(time.perf_counter() - t) * 1000:7.0f} ms (labels of 50k test points, G on 50k, "
          f"metrics, 3 plots)  [{load()}]")
    t = time.perf_counter()
    run.clusterer.recluster(x_batch=x)
    print(f"  {'one recluster':18s} {(time.perf_counter() - t) * 1000:7.0f} ms (10k cluster set)  [{load()}]")
    if not args.outdir:
        shutil.rmtree(outdir, ignore_errors=True)


def bench_original(args):
    """The original's 2d_mix/train.py as a subprocess: seconds between its evaluation lines (every 1000 iterations)."""
    outdir = tempfile.mkdtemp(prefix="bench_toy2d_original_")
    cmd = [args.original_python, "-u", "train.py", "--clusterer", args.clusterer, "--data_type", args.data_type,
           "--nepochs", str(max(1, args.iters // 1000)), "--outdir", outdir]
    start = time.perf_counter()
    stamps = []
    try:
        with subprocess.Popen(cmd, cwd=args.original, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            for line in proc.stdout:
                if line.startswith("[epoch"):
                    stamps.append((time.perf_counter(), line.split(" it ")[1].split("]")[0], load()))
            if proc.wait():
                sys.exit(f"error: the original exited with code {proc.returncode}: {' '.join(cmd)}")
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    print(f"original {args.data_type} {args.clusterer}: {max(1, args.iters // 1000) * 1000} iterations in "
          f"{time.perf_counter() - start:.1f} s (set-up and the first clustering included)  [{load()}]")
    for (t0, _, _), (t1, it, at) in zip(stamps, stamps[1:]):
        print(f"  iterations up to {it:>6s}: {t1 - t0:6.1f} s per 1k iterations incl. one evaluation  [{at}]",
              flush=True)


def bench_clustering(args):
    import numpy as np

    from selfcond.clustering import make_clusterer

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.cluster_k, args.cluster_dim)).astype(np.float32) * 3
    x = (centres[rng.integers(0, args.cluster_k, args.cluster_n)]
         + rng.standard_normal((args.cluster_n, args.cluster_dim)).astype(np.float32))

    class Features:
        def __init__(self):
            self.shift = np.float32(0.0)

        def snapshot(self):
            self.frozen_shift = self.shift

        def frozen(self, a):
            return a + self.frozen_shift

        def live(self, a):
            return a + self.shift

    features = Features()
    c = make_clusterer("selfcondgan", args.cluster_k, x_cluster=x, features=features, seed=0)
    t = time.perf_counter()
    c.recluster()
    print(f"clustering {args.cluster_n} x {args.cluster_dim} features, k = {args.cluster_k}: first (k-means++, "
          f"10 restarts) {time.perf_counter() - t:.1f} s  [{load()}]")
    features.shift = rng.standard_normal(args.cluster_dim).astype(np.float32) * 0.1
    t = time.perf_counter()
    c.recluster()
    print(f"  warm-started recluster + matching {time.perf_counter() - t:.1f} s  [{load()}]")
    t = time.perf_counter()
    for _ in range(20):
        c.get_labels(x[:128])
    print(f"  labels of a batch of 128: {(time.perf_counter() - t) / 20 * 1000:.2f} ms  [{load()}]")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_type", default="ring", choices=("ring", "grid"))
    parser.add_argument("--clusterer", default="selfcondgan")
    parser.add_argument("--iters", type=int, default=2000, help="Training iterations (whole thousands)")
    parser.add_argument("--outdir", default=None, help="Keep the run here (default: a temporary directory)")
    parser.add_argument("--skip-parts", action="store_true", help="Time the run only (not its parts)")
    parser.add_argument("--original", default=None, help="The original's 2d_mix directory: time it in turn with ours")
    parser.add_argument("--original-python", default=sys.executable, help="Python with PyTorch for --original")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of (ours, original) with --original")
    parser.add_argument("--clustering", action="store_true", help="Time the clusterer at image scale instead")
    parser.add_argument("--cluster-n", type=int, default=25000)
    parser.add_argument("--cluster-dim", type=int, default=512)
    parser.add_argument("--cluster-k", type=int, default=100)
    args = parser.parse_args()
    print(f"[{load()}] cpus {os.cpu_count()}")
    if args.clustering:
        bench_clustering(args)
    elif args.original:
        args.skip_parts = True
        for _ in range(args.rounds):
            bench_training(args)
            bench_original(args)
    else:
        bench_training(args)


if __name__ == "__main__":
    main()
