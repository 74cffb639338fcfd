"""StyleGAN2 training and generation speed on this machine: img/s, ms/iteration, ms per phase, peak memory.

    .venv/bin/python bench/bench_stylegan2.py [--config bench32] [--batch 32] [--iters 32] [--gen-batch 64]
                                              [--precision fp32,bf16] [--fp16-res 4]

Training drives the real loop (`stylegan2.training.loop.TrainingLoop`) on real data: a 32x32x3 digits dataset
(`dataset_tool.py create_digits`) written to a temporary directory, or `--dataset DIR`. It warms up with
`--warmup` iterations (>= 16: iteration 0 runs all four phases, so every phase is traced), then times `--iters`
whole iterations (a multiple of 16, starting at a multiple of 16, so path length (every 4) and R1 (every 16) run
at their real rates). Then it times each compiled phase on its own (G main, G reg, D main, D reg, the EMA update,
and fetching a real batch). Generation times G_ema(z) (no truncation, random noise) in a `tf.function`.

Threading: `--intra N --inter M` call `tf.config.threading` before TensorFlow starts (default: TensorFlow's own).
oneDNN: on by default on x86-64 (`stylegan2.environment`, as for every entry point); `TF_ENABLE_ONEDNN_OPTS=0` in
the environment selects TensorFlow's Eigen kernels instead; the setting is printed. `--profile DIR` writes a
`tf.profiler` trace of a few timed iterations to DIR (TensorBoard's profile plugin reads it).

Precision: `--precision fp32,bf16` (any of fp32, bf16, fp16, auto, comma-separated; `--fp16-res` as in
run_training.py) builds one loop per precision from the same seed and data, warms each up, then times them in turn,
16 iterations of each per turn (`--iters` / 16 turns), and generation batch by batch in turn, so that a machine whose
speed drifts (other jobs) affects every precision alike; it prints the figures side by side with their ratio to the
first. The CPU's model and its vector / matrix flags (AVX-512 bf16, AMX) are printed with the load average.
"""

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="2")

import numpy as np


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


CPU_FLAGS_SHOWN = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
                   "amx_fp16")


def cpu_flags_shown():
    from stylegan2.precision import cpu_flags

    flags = cpu_flags()
    return " ".join(f for f in CPU_FLAGS_SHOWN if f in flags) or "none of " + " ".join(CPU_FLAGS_SHOWN)


def load_average():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def median_ms(times):
    return 1000 * float(np.median(times))


def make_dataset(root, num_images):
    from stylegan2.dataset_tool.mnist import create_digits

    path = os.path.join(root, "digits")
    create_digits(path, num_images=num_images)
    return path


def build_loop(args, dataset_path, run_dir, precision="fp32"):
    from stylegan2.training.cli import build_options
    from stylegan2.training.loop import TrainingLoop

    options, _ = build_options(["--config", args.config, "--batch", str(args.batch), "--dataset", dataset_path,
                                "--result-dir", run_dir, "--seed", str(args.seed)] +
                               (["--batch-gpu", str(args.batch_gpu)] if args.batch_gpu else []) +
                               (["--precision", precision] if precision != "fp32" else []) +
                               (["--fp16-res", str(args.fp16_res)] if args.fp16_res and precision != "fp32" else []))
    loop = TrainingLoop(options)
    loop.prepare()
    return loop


def bench_training(loop, iters):
    """Seconds of `iters` whole iterations through `train_iteration` (exactly what `TrainingLoop.train` runs per
    iteration)."""
    if loop.step % 16:
        raise RuntimeError("timed iterations must start at a multiple of 16")
    start = time.perf_counter()
    for _ in range(iters):
        loop.train_iteration()
    return time.perf_counter() - start


def bench_phases(loop, reps):
    """Each compiled phase on its own: median ms over `reps` calls (reals fetched outside the timing)."""
    steps = {"G_main": (loop.g_main_step, 0), "G_reg": (loop.g_reg_step, 1),
             "D_main": (loop.d_main_step, 2), "D_reg": (loop.d_reg_step, 3)}
    result = {}
    for name, (step, column) in steps.items():
        times = []
        for _ in range(reps):
            seed = loop.rng.make_seeds(4)[:, column]
            reals = loop.method.phase_inputs(name, loop)
            start = time.perf_counter()
            out = step(seed, *reals)
            for total, _count in out.values():
                float(total)
            times.append(time.perf_counter() - start)
        result[name] = median_ms(times)
    import tensorflow as tf

    # The loop's EMA step takes the decay as an argument when it ramps up (ADA ema_rampup), else nothing.
    ema_args = (tf.constant(loop.ema_beta(), tf.float32),) if callable(getattr(loop, "ema_beta", None)) else ()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        loop.ema_step(*ema_args)
        times.append(time.perf_counter() - start)
    result["EMA"] = median_ms(times)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        loop.next_reals()
        times.append(time.perf_counter() - start)
    result["next_reals"] = median_ms(times)
    return result


def generation_step(G, batch, seed=0):
    """A warmed-up call that generates one batch with G (a tf.function) and returns its seconds."""
    import tensorflow as tf

    @tf.function(autograph=False)
    def generate(z):
        return G(z, None, truncation_psi=1.0)

    z = tf.constant(np.random.RandomState(seed).randn(batch, G.z_dim).astype(np.float32))
    for _ in range(3):
        generate(z).numpy()

    def timed():
        start = time.perf_counter()
        generate(z).numpy()
        return time.perf_counter() - start

    return timed


def main():
    from stylegan2.precision import CHOICES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="bench32", help="Preset")
    parser.add_argument("--batch", type=int, default=32, help="Training batch")
    parser.add_argument("--batch-gpu", type=int, default=None, help="Samples per gradient-accumulation round "
                                                                    "(default: the preset's, the whole batch)")
    parser.add_argument("--precision", default="fp32",
                        help=f"Comma-separated precisions timed in turn ({', '.join(CHOICES)}; default: fp32)")
    parser.add_argument("--fp16-res", type=int, default=None, help="As run_training.py's (default: 4)")
    parser.add_argument("--warmup", type=int, default=16, help="Warm-up iterations (a multiple of 16, >= 16)")
    parser.add_argument("--iters", type=int, default=32, help="Timed iterations per precision (a multiple of 16)")
    parser.add_argument("--phase-reps", type=int, default=8, help="Calls per phase when timing phases alone, 0 = skip")
    parser.add_argument("--gen-batch", type=int, default=64, help="Generation batch")
    parser.add_argument("--gen-reps", type=int, default=10, help="Timed generation batches per precision, 0 = skip")
    parser.add_argument("--no-train", action="store_true", help="Generation only (G_ema of a fresh loop)")
    parser.add_argument("--dataset", default=None, help="Dataset directory (default: digits in a temp dir)")
    parser.add_argument("--images", type=int, default=4096, help="Images in the temporary dataset")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--intra", type=int, default=None, help="tf.config.threading intra-op threads")
    parser.add_argument("--inter", type=int, default=None, help="tf.config.threading inter-op threads")
    parser.add_argument("--profile", default=None, help="Write a tf.profiler trace of 4 iterations here "
                                                        "(of the first precision)")
    parser.add_argument("--json", default=None, help="Also write the figures to this JSON file")
    args = parser.parse_args()
    if args.warmup < 16 or args.warmup % 16 or args.iters % 16 or args.iters < 16:
        parser.error("--warmup and --iters must be multiples of 16 (>= 16)")
    precisions = args.precision.split(",")
    if not precisions or any(p not in CHOICES for p in precisions) or len(set(precisions)) != len(precisions):
        parser.error(f"--precision {args.precision}: give distinct values among {', '.join(CHOICES)}, "
                     f"comma-separated")

    import tensorflow as tf

    if args.intra is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra)
    if args.inter is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter)

    print(f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}, "
          f"flags: {cpu_flags_shown()}; load average {load_average()}")
    print(f"TensorFlow {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}, "
          f"threads intra={tf.config.threading.get_intra_op_parallelism_threads()} "
          f"inter={tf.config.threading.get_inter_op_parallelism_threads()} (0 = TensorFlow's choice)")
    figures = {"config": args.config, "batch": args.batch, "batch_gpu": args.batch_gpu, "cpu": cpu_model(),
               "cpu_flags": cpu_flags_shown(), "load_before": load_average(), "precisions": {}}

    with tempfile.TemporaryDirectory(prefix="bench-stylegan2-") as root:
        dataset = args.dataset or make_dataset(root, args.images)
        loops = {}
        for precision in precisions:
            start = time.perf_counter()
            loop = loops[precision] = build_loop(args, dataset, os.path.join(root, precision), precision)
            figures["precisions"][precision] = {"resolved": loop.precision}
            print(f"[{precision}] preset {args.config}, batch {args.batch} ({loop.rounds} round(s) of "
                  f"{loop.batch_gpu}), dataset {loop.dataset.num_images} images "
                  f"{loop.dataset.resolution}x{loop.dataset.resolution}x{loop.dataset.channels}; "
                  f"precision: {loop.describe_precision()}; build {time.perf_counter() - start:.1f} s")

        if not args.no_train:
            for precision, loop in loops.items():
                start = time.perf_counter()
                for _ in range(args.warmup):
                    loop.train_iteration()
                print(f"[{precision}] warm-up: {args.warmup} iterations in {time.perf_counter() - start:.1f} s "
                      f"(includes tracing)")
            seconds = {p: 0.0 for p in loops}
            for turn in range(args.iters // 16):  # 16 iterations of each precision in turn
                for precision, loop in loops.items():
                    sec = bench_training(loop, 16)
                    seconds[precision] += sec
                    print(f"[{precision}] turn {turn}: {16 * args.batch / sec:.2f} img/s; load average "
                          f"{load_average()}", flush=True)
            for precision, loop in loops.items():
                sec = seconds[precision] / args.iters
                figures["precisions"][precision].update(train_img_s=args.batch / sec, ms_per_iteration=1000 * sec)
                print(f"[{precision}] training: {args.batch / sec:.2f} img/s, {1000 * sec:.0f} ms/iteration "
                      f"(mean of {args.iters} iterations, lazy regularization at its real rate)")
                if args.phase_reps:
                    phases = bench_phases(loop, args.phase_reps)
                    figures["precisions"][precision]["phase_ms"] = phases
                    amortized = phases["G_main"] + phases["G_reg"] / 4 + phases["D_main"] + phases["D_reg"] / 16 + \
                        phases["EMA"] + phases["next_reals"] * (1 + 1 / 16)
                    print(f"[{precision}] phases (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
                          + f"; amortized sum {amortized:.0f} ms/iteration")
            if args.profile:
                loop = loops[precisions[0]]
                while loop.step % 16:
                    loop.train_iteration()
                tf.profiler.experimental.start(args.profile)
                for _ in range(4):
                    loop.train_iteration()
                tf.profiler.experimental.stop()
                print(f"profile: 4 iterations (steps {loop.step - 4}..{loop.step - 1}) of {precisions[0]} traced to "
                      f"{args.profile}")
            figures["peak_rss_mb_training"] = peak_rss_mb()

        if args.gen_reps:
            steps = {p: generation_step(loop.G_ema, args.gen_batch) for p, loop in loops.items()}
            times = {p: [] for p in loops}
            for _ in range(args.gen_reps):  # one batch of each precision in turn
                for precision, step in steps.items():
                    times[precision].append(step())
            for precision in loops:
                ms = median_ms(times[precision])
                rate = args.gen_batch * 1000 / ms
                figures["precisions"][precision].update(gen_img_s=rate, gen_ms_per_batch=ms)
                print(f"[{precision}] generation: {rate:.1f} img/s ({ms:.0f} ms per batch of {args.gen_batch}, G_ema, "
                      f"no truncation, tf.function, median of {args.gen_reps})")

    figures["peak_rss_mb"] = peak_rss_mb()
    figures["load_after"] = load_average()
    if len(precisions) > 1:
        first = figures["precisions"][precisions[0]]
        print(f"side by side (ratio to {precisions[0]}); load average before {figures['load_before']}, "
              f"after {figures['load_after']}:")
        print(f"{'precision':<10}{'training img/s':>22}{'generation img/s':>24}")
        for precision in precisions:
            f = figures["precisions"][precision]
            cells = []
            for key in ("train_img_s", "gen_img_s"):
                cells.append(f"{f[key]:.2f} ({f[key] / first[key]:.2f}x)" if key in f else "-")
            print(f"{precision:<10}{cells[0]:>22}{cells[1]:>24}")
    print(f"peak memory (ru_maxrss): {figures['peak_rss_mb']:.0f} MB; load average {figures['load_after']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
