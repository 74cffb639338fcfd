"""`python -m lis.train_r`: R-separate (the original's g_lis/train_r.py): an encoder R trained AFTER G to map G's images
back to their latents, MSE(R(G(z)), z) with G frozen, so that G(R(G(z))) "repairs" an image by moving its latent to
where G's images are better (R's spatial dropout makes it ignore local artifacts).

    python -m lis.train_r --network results/00003-lis-mnist_test-small-1gpu-lis3z --niter 2500 --spatial-dropout-r 0.1
    python run_generator.py generate-images --network <same snapshot> --seeds 0-63 --r-encoder <run>/encoder-last.keras
    python run_metrics.py --metrics broken10k --network <same snapshot> --r-encoder <run>/encoder-last.keras

G is the snapshot's G_ema at its default depth (every LIS module; any snapshot works, also a plain StyleGAN2 one),
without truncation, with random per-layer noise; z is the latent before the LIS modules, as the original's R
targets the original z. R is lis.networks.Encoder: StyleGAN2's D trunk with half of D's features (the original's
build_reverser at nfeature / 2), spatial dropout after every block but the first, a linear output of z_dim.

Optimizer: Adam(lr 0.002, betas (0, 0.99)), StyleGAN2's D optimizer, since R is D's trunk with equalized learning
rate; with beta1 = 0 it is RMSprop with decay 0.99 and bias correction. (The original's RMSprop(lr 5e-5, decay 0.9)
was tuned for PyTorch's default parametrization, where a step moves weights of size ~1/sqrt(fan_in).)

Writes into <result-dir>/<NNNNN>-train-r/ (the original's save_path_r): log.txt (iteration, loss r, and D's fake loss
of the images before and after repair, dis-stage1 / dis-stage2, D frozen and for logging only), options.json,
samples-<iter>.png (G(z) of 64 fixed latents), samples_r-<iter>.png (G(R(G(z)))), samples_both-<iter>.png (pairs),
encoder-<iter>.keras every --save-interval and encoder-last.keras (the original wrote no `last`), checkpoints/
(exact resume: --resume <this directory>).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, finite_float

VIS_LATENTS = 64


def build_encoder(snapshot, spatial_dropout, metadata):
    """R for a snapshot's G: D's trunk (its architecture if 'orig' or 'resnet') at half of D's features."""
    from lis.networks import Encoder

    G, D = snapshot.G_ema, snapshot.D
    R = Encoder(z_dim=G.z_dim, img_resolution=G.img_resolution, img_channels=G.img_channels,
                architecture=D.architecture if D.architecture in ("orig", "resnet") else "resnet",
                fmap_base=max(D.fmap_base // 2, 1), fmap_max=max(D.fmap_max // 2, 1), spatial_dropout=spatial_dropout,
                metadata=metadata, name="r_separate")
    R.build()
    return R


class RTrainer:
    """The training of R: `RTrainer(options).train()`; options is a dict (see build_parser), saved to options.json."""

    def __init__(self, options, run_dir):
        import keras
        import tensorflow as tf

        from stylegan2.training.snapshot import open_for_sampling

        self.o = options
        self.run_dir = run_dir
        self.snapshot, self.G, self.sampling = open_for_sampling(options["network"])
        keras.utils.set_random_seed(options["seed"])
        meta = self.snapshot.metadata
        self.R = build_encoder(self.snapshot, options["spatial_dropout_r"],
                               {"snapshot": os.path.abspath(options["network"]), "kimg": meta.get("kimg"),
                                "method": meta.get("method"), "spatial_dropout_r": options["spatial_dropout_r"],
                                "lr": options["lr"], "batch_size": options["batch_size"]})
        self.opt = keras.optimizers.Adam(options["lr"], beta_1=0.0, beta_2=0.99, epsilon=1e-8)
        self.opt.build(self.R.trainable_variables)
        self.rng = tf.random.Generator.from_seed(options["seed"])
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.checkpoint = tf.train.Checkpoint(
            R={w.path.replace("/", "."): w.value for w in self.R.weights},
            opt=[v.value for v in self.opt.variables], rng=self.rng, iteration=self.iteration)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2)
        rnd = np.random.RandomState(options["seed"])
        self.vis_z = rnd.randn(VIS_LATENTS, self.G.z_dim).astype(np.float32)
        self.vis_c = self.labels(VIS_LATENTS, rnd)
        self._step = self._make_step()

    def labels(self, n, rnd):
        return self.sampling.labels_batch(n, rnd) if self.G.c_dim else np.zeros([n, 0], np.float32)

    def _make_step(self):
        import tensorflow as tf

        G, R, D, rng, opt = self.G, self.R, self.snapshot.D, self.rng, self.opt
        b = self.o["batch_size"]
        with_c = bool(self.G.c_dim)

        @tf.function(autograph=False)
        def step(c, log):
            z = rng.normal([b, G.z_dim])
            noise = [rng.normal([b, h, w, 1]) for h, w in G.synthesis.noise_shapes]
            dropout = [rng.uniform([b, 1, 1, ch]) for ch in R.dropout_channels] if R.spatial_dropout > 0 else None
            cc = c if with_c else None
            images = tf.stop_gradient(G(z, cc, noise=noise))  # G frozen, every LIS module
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(R(images, dropout_noise=dropout) - z))  # MSE(R(G(z)), z)
            opt.apply(tape.gradient(loss, R.trainable_variables), R.trainable_variables)

            def stages():  # the original's dis-stage1 / dis-stage2: D's fake loss before and after repair
                fixed = G(R(images), cc, noise=noise)
                return (tf.reduce_mean(tf.nn.softplus(D(images, c))), tf.reduce_mean(tf.nn.softplus(D(fixed, c))))

            stage1, stage2 = tf.cond(log, stages, lambda: (tf.constant(0.0), tf.constant(0.0)))
            return loss, stage1, stage2

        return step

    def save_samples(self, tag):
        from stylegan2.images import make_grid, save_image, to_uint8

        from lis.networks import ChainedGenerator

        c = self.vis_c if self.G.c_dim else None
        before = to_uint8(np.asarray(self.G(self.vis_z, c, noise_mode="const")))
        after = to_uint8(np.asarray(ChainedGenerator(self.G, self.R, 1)(self.vis_z, c, noise_mode="const")))
        save_image(make_grid(before, 8), os.path.join(self.run_dir, f"samples-{tag}.png"))
        save_image(make_grid(after, 8), os.path.join(self.run_dir, f"samples_r-{tag}.png"))
        save_image(make_grid(np.concatenate([before, after], axis=2), 8),
                   os.path.join(self.run_dir, f"samples_both-{tag}.png"))

    def save_encoder(self, name):
        from stylegan2.training.snapshot import save_keras_atomic

        self.R.metadata["iterations"] = int(self.iteration.numpy())
        path = os.path.join(self.run_dir, name)
        save_keras_atomic(self.R, path)
        return path

    def train(self, log=print):
        import tensorflow as tf

        o = self.o
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_consumed()
            log(f"Resumed from {latest} at iteration {int(self.iteration.numpy())}")
        else:
            self.save_samples(f"{0:06d}")
        last_time, loss_sum, count = time.time(), 0.0, 0
        for it in range(int(self.iteration.numpy()) + 1, o["niter"] + 1):
            rnd = np.random.RandomState([o["seed"], it])  # labels of iteration it, the same after a resume
            logging = it % o["log_interval"] == 0 or it == o["niter"]
            loss, s1, s2 = self._step(tf.constant(self.labels(o["batch_size"], rnd)), tf.constant(logging))
            loss_sum, count = loss_sum + float(loss), count + 1
            self.iteration.assign(it)
            if logging:
                now = time.time()
                log(f"{it} | loss: r:{loss_sum / count:.5f} dis-stage1:{float(s1):.4f} dis-stage2:{float(s2):.4f}  "
                    f"{count * o['batch_size'] / max(now - last_time, 1e-9):.1f} img/s")
                last_time, loss_sum, count = now, 0.0, 0
            if it % o["vis_interval"] == 0 or it == o["niter"]:
                self.save_samples(f"{it:06d}")
            if it % o["save_interval"] == 0 or it == o["niter"]:
                self.save_encoder(f"encoder-{it:06d}.keras")
                self.save_encoder("encoder-last.keras")
                self.manager.save(checkpoint_number=it)
        return os.path.join(self.run_dir, "encoder-last.keras")


def build_parser():
    parser = OneLineParser(prog="python -m lis.train_r", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--network", help="Network snapshot (.keras) or run directory whose G_ema R learns to invert")
    parser.add_argument("--niter", type=int, default=2500, help="Training iterations (the original README's 2500)")
    parser.add_argument("--batch-size", type=int, default=32, help="Latents per iteration")
    parser.add_argument("--lr", type=finite_float, default=0.002, help="Adam learning rate")
    parser.add_argument("--spatial-dropout-r", type=finite_float, default=0.1,
                        help="Spatial dropout of R (the original README's 0.1; its flag's default is 0)")
    parser.add_argument("--log-interval", type=int, default=100, help="Iterations between log lines")
    parser.add_argument("--vis-interval", type=int, default=500, help="Iterations between sample grids")
    parser.add_argument("--save-interval", type=int, default=500, help="Iterations between encoder files")
    parser.add_argument("--seed", type=int, default=0, help="Seed of R's init, the latents and the noise")
    parser.add_argument("--result-dir", default="results", help="Root of the run directory")
    parser.add_argument("--resume", default=None, help="A train-r run directory: continue it exactly (to --niter)")
    return parser


KEYS = ("network", "niter", "batch_size", "lr", "spatial_dropout_r", "log_interval", "vis_interval", "save_interval",
        "seed")


def check(options):
    for key in ("niter", "batch_size", "log_interval", "vis_interval", "save_interval"):
        if options[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} {options[key]}: must be at least 1")
    if not 0 <= options["spatial_dropout_r"] < 1:
        raise UserError(f"--spatial-dropout-r {options['spatial_dropout_r']}: must be in [0, 1)")
    if not options["lr"] > 0:
        raise UserError(f"--lr {options['lr']}: must be positive")


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.resume:
        saved = os.path.join(args.resume, "options.json")
        if not os.path.isfile(saved):
            raise UserError(f"--resume {args.resume}: no options.json; pass a directory written by lis.train_r")
        with open(saved) as f:
            options = {**json.load(f), "niter": args.niter}
        check(options)
        run_dir = args.resume
    else:
        options = {k: getattr(args, k) for k in KEYS}
        if not args.network:
            raise UserError("--network: missing; pass the snapshot (or run directory) whose G R should invert")
        if not os.path.exists(args.network):
            raise UserError(f"--network {args.network}: no such snapshot file or run directory")
        check(options)
        from stylegan2.rundir import create_run_dir

        run_dir = create_run_dir(args.result_dir, "train-r")
        tmp = os.path.join(run_dir, "options.json.tmp")
        with open(tmp, "w") as f:
            json.dump(options, f, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(run_dir, "options.json"))
    print(f"Run directory: {run_dir}", flush=True)
    with open(os.path.join(run_dir, "log.txt"), "a") as log_file:
        def log(line):
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        trainer = RTrainer(options, run_dir)
        log(f"R-separate on {options['network']}: encoder {sum(int(np.prod(w.shape)) for w in trainer.R.weights):,} "
            f"parameters, batch {options['batch_size']}, lr {options['lr']}, spatial dropout "
            f"{options['spatial_dropout_r']}, {options['niter']} iterations")
        log(f"Done: {trainer.train(log)}")
    return run_dir


if __name__ == "__main__":
    from stylegan2 import environment

    environment.configure()
    main()
