"""The cost of LIS modules on a training iteration (the paper: "almost zero computation and memory"): the `bench32`
preset with and without N LIS modules, timed in turn in one process (plain, LIS, plain, LIS, ...).

    .venv/bin/python bench/bench_lis.py [--modules 3] [--config bench32] [--batch 32] [--iters 32] [--rounds 3]

Both loops are the real training loop (`stylegan2.training.loop.TrainingLoop`) on the same real data (32x32x3
digits, `dataset_tool.py create_digits`, in a temporary directory, or `--dataset DIR`), same seed; `--method lis`
with N modules on z (`--lis-space w` for w). Each round times `--iters` whole iterations (multiples of 16, so path
length and R1 run at their real rates) of each loop; then generation (G_ema, batch 64). Prints every figure with the
load average, the medians and the ratio; an idle machine gives the cleanest ratio (see README: Performance).
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="2")

import numpy as np  # noqa: E402

from bench_stylegan2 import bench_generation, cpu_model, load_average, make_dataset, peak_rss_mb  # noqa: E402


def build(args, dataset, run_dir, lis):
    from stylegan2.training.cli import build_options
    from stylegan2.training.loop import TrainingLoop

    argv = ["--config", args.config, "--batch", str(args.batch), "--dataset", dataset, "--result-dir", run_dir,
            "--seed", str(args.seed)]
    if lis:
        argv += ["--method", "lis", "--r-iterations", str(args.modules), "--lis-space", args.lis_space]
    options, _ = build_options(argv)
    loop = TrainingLoop(options)
    loop.prepare()
    return loop


def time_iterations(loop, iters):
    start = time.perf_counter()
    for _ in range(iters):
        loop.train_iteration()
    return (time.perf_counter() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", type=int, default=3, help="N, LIS modules")
    parser.add_argument("--lis-space", default="z", choices=("z", "w"))
    parser.add_argument("--config", default="bench32")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=16, help="Warm-up iterations of each loop (multiple of 16)")
    parser.add_argument("--iters", type=int, default=32, help="Timed iterations per round (multiple of 16)")
    parser.add_argument("--rounds", type=int, default=3, help="Alternations plain/LIS")
    parser.add_argument("--gen-reps", type=int, default=10, help="Timed generation batches (0 = skip)")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    if args.warmup % 16 or args.iters % 16 or min(args.warmup, args.iters) < 16:
        parser.error("--warmup and --iters must be multiples of 16 (>= 16)")

    import tensorflow as tf

    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load_average()}; TensorFlow {tf.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench-lis-") as root:
        dataset = args.dataset or make_dataset(root, args.images)
        loops = {"plain": build(args, dataset, root, lis=False), "lis": build(args, dataset, root, lis=True)}
        for name, loop in loops.items():
            total = sum(int(np.prod(w.shape)) for w in loop.G.trainable_weights)
            extra = sum(int(np.prod(w.shape)) for w in loop.G.trainable_weights if "/lis" in w.path)
            print(f"{name}: preset {args.config}, batch {args.batch}, G {total:,} parameters "
                  f"({extra:,} in LIS modules)")
            start = time.perf_counter()
            time_iterations(loop, args.warmup)
            print(f"{name}: warm-up {args.warmup} iterations in {time.perf_counter() - start:.1f} s")
        times = {"plain": [], "lis": []}
        for rnd in range(args.rounds):
            for name in ("plain", "lis"):
                sec = time_iterations(loops[name], args.iters)
                times[name].append(sec)
                print(f"round {rnd + 1} {name:5s}: {1000 * sec:7.0f} ms/iteration, {args.batch / sec:6.2f} img/s "
                      f"(load average {load_average()})", flush=True)
        plain, lis = (float(np.median(times[k])) for k in ("plain", "lis"))
        print(f"median: plain {1000 * plain:.0f} ms/iteration, LIS (N={args.modules}, {args.lis_space}) "
              f"{1000 * lis:.0f} ms/iteration: LIS/plain = {lis / plain:.3f} "
              f"(per-round ratios {', '.join(f'{b / a:.3f}' for a, b in zip(times['plain'], times['lis']))})")
        if args.gen_reps:
            for name in ("plain", "lis", "plain", "lis"):
                rate, ms = bench_generation(loops[name].G_ema, 64, args.gen_reps)
                print(f"generation {name:5s}: {rate:.1f} img/s ({ms:.0f} ms per batch of 64; load average "
                      f"{load_average()})", flush=True)
    print(f"peak memory (ru_maxrss, both loops in one process): {peak_rss_mb():.0f} MB; load average {load_average()}")


if __name__ == "__main__":
    main()
