"""Metric throughput on this machine: generation img/s (G_ema, no truncation) and Inception feature-extraction
img/s, and the time of a `fid50k` run extrapolated from them.

    .venv/bin/python bench/bench_metrics.py [--config bench32] [--batch 64] [--batches 5] [--inception PATH]

The feature network is the 2015 Inception graph when `--inception` (or the weights search) finds it; otherwise
Keras' InceptionV3 architecture with random weights, which costs the same per image at 299x299 (about 5.7 GFLOP)
and is labelled as such. A fid50k run = 50k generated images + their features (+ 50k real features the first time,
then cached).
"""

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="3")

import numpy as np  # noqa: E402


def rate(fn, batch, batches):
    fn()  # trace / warm up
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="bench32", help="Generator preset (32x32x3)")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=5, help="Timed batches (median)")
    parser.add_argument("--inception", default=None, help="classify_image_graph_def.pb / .tgz or its folder")
    args = parser.parse_args()

    import tensorflow as tf

    from stylegan2.errors import UserError
    from stylegan2.metrics.feature_nets import InceptionGraph
    from stylegan2.metrics.runner import to_uint8_range
    from stylegan2.presets import build_networks

    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    G, _ = build_networks(args.config, args.resolution, 3)
    z = tf.constant(np.random.RandomState(0).randn(args.batch, G.z_dim).astype(np.float32))
    generate = tf.function(lambda z: G(z, None, truncation_psi=1.0), autograph=False)
    gen_rate = rate(lambda: generate(z).numpy(), args.batch, args.batches)
    print(f"generation ({args.config}, {args.resolution}px, batch {args.batch}): {gen_rate:.1f} img/s")

    images = to_uint8_range(generate(z))
    try:
        net = InceptionGraph(args.inception)
        label = net.name
        features = lambda: net(images)["pool"].numpy()  # noqa: E731
    except UserError as err:
        print(f"(2015 Inception graph not available: {str(err)[:100]}...)")
        import keras

        model = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg")
        label = "keras InceptionV3 architecture, random weights (same cost per image as the 2015 graph)"
        run = tf.function(lambda x: model(tf.image.resize(x, [299, 299]) / 127.5 - 1.0), autograph=False)
        features = lambda: run(images).numpy()  # noqa: E731
    feat_rate = rate(features, args.batch, args.batches)
    print(f"feature extraction ({label}), batch {args.batch}: {feat_rate:.1f} img/s")
    fid_fakes = 50000 / gen_rate + 50000 / feat_rate
    fid_first = fid_fakes + 50000 / feat_rate
    print(f"fid50k extrapolated: {fid_fakes / 60:.1f} min per snapshot (50k fakes), {fid_first / 60:.1f} min the first "
          f"time (+ 50k real features, then cached)")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
