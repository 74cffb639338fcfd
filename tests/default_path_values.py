"""Values of the float32 default path, computed by whichever copy of the package comes first on sys.path.

    python tests/default_path_values.py <package root> <output .npz> <scratch dir>

Run by tests/test_precision_default.py twice in subprocesses, with the package of this commit and with the package
of the commit before mixed precision existed (extracted from git), to check that the default path is bit-identical:
a seeded tiny G and D (forward outputs and their input gradients) and the state after two training iterations of
the `tiny` preset (all four phases, lazy regularization included). Only APIs that both versions have are used.
"""

import os
import sys


def main(package_root, output, scratch):
    sys.path.insert(0, package_root)
    from stylegan2 import environment

    environment.configure(log_level="3")
    import numpy as np
    import tensorflow as tf

    from stylegan2.presets import build_networks
    from stylegan2.tfrecords import TFRecordExporter
    from stylegan2.training import cli
    from stylegan2.training.loop import TrainingLoop

    import keras

    values = {}
    keras.utils.set_random_seed(7)
    G, D = build_networks("tiny", img_resolution=16, img_channels=3)
    rnd = np.random.RandomState(0)
    z = tf.constant(rnd.randn(4, G.z_dim).astype(np.float32))
    noise = [tf.constant(rnd.randn(4, h, w, 1).astype(np.float32)) for h, w in G.synthesis.noise_shapes]
    with tf.GradientTape() as tape:
        ws = G.mapping(z, None)
        tape.watch(ws)
        images = G.synthesis(ws, noise=noise)
        scores = D(images)
        total = tf.reduce_sum(scores)
    values["G_images"] = images.numpy()
    values["D_scores"] = scores.numpy()
    values["grad_ws"] = tape.gradient(total, ws).numpy()

    images = (rnd.rand(32, 3, 8, 8) * 255).astype(np.uint8)
    with TFRecordExporter(os.path.join(scratch, "ds"), 32, progress=False) as tfr:
        tfr.add_images(images)
    options, _ = cli.build_options(["--data-dir", scratch, "--dataset", "ds", "--config", "tiny", "--result-dir",
                                    os.path.join(scratch, "results"), "--seed", "3"])
    loop = TrainingLoop(options)
    loop.prepare()
    for step in range(2):
        for name, (total, count) in loop.train_iteration().items():
            values[f"stat{step}/{name}"] = np.array([total, count])
    for model in (loop.G, loop.D, loop.G_ema):
        for w in model.weights:
            values[f"{model.name}/{w.path}"] = w.numpy()
    for opt in ("G_opt", "D_opt"):
        for v in getattr(loop, opt).variables:
            values[f"{opt}/{v.path}"] = v.numpy()
    values["pl_mean"] = loop.pl_mean.numpy()
    np.savez(output, **values)


if __name__ == "__main__":
    main(*sys.argv[1:4])
