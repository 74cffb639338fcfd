"""IvOM: Inference via Optimization Measure (InclusiveGAN's `run_projector.py project-real-images`, reference §4.3).

IG:projector_lpips.py optimises a latent z per real image (not w, not the noise maps) so that G(z) matches it:

    z ~ N(0, I) initially; for step in 0 .. num_steps-1, with t = step / num_steps:
      noise_strength = 0.05 * max(0, 1 - t / 0.75)^2
      lr = 0.1 * (0.5 - 0.5 cos(pi * min(1, (1 - t) / 0.25))) * min(1, t / 0.05)
      z_expr = slerp(z, fresh N(0, I), noise_strength)              (unit norm)
      loss = sum_i LPIPS(S(G(z_expr_i)), S(target_i))                (S: [-1,1] -> [0,255]; images > 256 px are
                                                                      box-downsampled to 256 first)
      Adam (TF1 AdamOptimizer defaults: beta1 0.9, beta2 0.999, eps 1e-8) step on z
    IvOM of an image = LPIPS(G(normalize(z)), target) at the end (noise strength 0);
    the command prints `<network>: IvOM = mean, std = std` over the images.

G is the snapshot's G_ema without truncation (IG: is_validation=True) with random per-layer noise. `--rec-loss l2`
(or l1) replaces LPIPS by the mean squared (absolute) pixel difference for machines without LPIPS weights; such
numbers are not comparable with IG's.

    python run_projector.py project-real-images --network=results/00000-... --data-dir=datasets \\
        --dataset=celeba_align_png_cropped_30k --num-images=3000 --num-steps=400
"""

import argparse
import math
import os
import sys

import numpy as np
import tensorflow as tf

from inclusive.latents import slerp_tf
from inclusive.method import make_distance
from stylegan2.dataset import ImageDataset
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser
from stylegan2.images import save_image, to_uint8
from stylegan2.rundir import create_run_dir
from stylegan2.training.snapshot import open_for_sampling

IMAGES_SAVED_PER_BATCH = 36  # IG writes the target and result PNGs of the first 36 images of each minibatch


def downsample_to(images, size=256):
    """IG: images larger than `size` are averaged over factor x factor blocks (factor = H // size)."""
    h = images.shape[1]
    if h is None or h <= size:
        return images
    factor = h // size
    n, w, c = tf.shape(images)[0], images.shape[2], images.shape[3]
    x = tf.reshape(images, [n, h // factor, factor, w // factor, factor, c])
    return tf.reduce_mean(x, axis=[2, 4])


class Projector:
    """Finds z with G(z) close to target images; `project(targets)` -> (images, final distances)."""

    def __init__(self, G, distance, num_steps=400, initial_learning_rate=0.1, initial_noise_factor=0.05,
                 lr_rampdown_length=0.25, lr_rampup_length=0.05, noise_ramp_length=0.75, seed=0):
        if num_steps < 1:
            raise UserError(f"--num-steps {num_steps}: must be at least 1")
        self.G = G
        self.distance = distance
        self.num_steps = int(num_steps)
        self.initial_learning_rate = initial_learning_rate
        self.initial_noise_factor = initial_noise_factor
        self.lr_rampdown_length = lr_rampdown_length
        self.lr_rampup_length = lr_rampup_length
        self.noise_ramp_length = noise_ramp_length
        self.rng = np.random.RandomState(seed)
        self._step = tf.function(self._step_fn, autograph=False, reduce_retracing=True)
        self._final = tf.function(self._final_fn, autograph=False, reduce_retracing=True)

    def schedule(self, step):
        """(learning rate, noise strength) of `step` (IG projector_lpips.Projector.step)."""
        t = step / self.num_steps
        noise_strength = self.initial_noise_factor * max(0.0, 1.0 - t / self.noise_ramp_length) ** 2
        lr_ramp = min(1.0, (1.0 - t) / self.lr_rampdown_length)
        lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
        lr_ramp = lr_ramp * min(1.0, t / self.lr_rampup_length)
        return self.initial_learning_rate * lr_ramp, noise_strength

    def _generate(self, z, c, noise_strength, seed):
        z_noise = tf.random.stateless_normal(tf.shape(z), seed)
        z_expr = slerp_tf(z, z_noise, noise_strength)
        n = tf.shape(z)[0]
        noise = [tf.random.stateless_normal([n, h, w, 1], tf.random.experimental.stateless_fold_in(seed, i + 1))
                 for i, (h, w) in enumerate(self.G.synthesis.noise_shapes)]
        return self.G(z_expr, c, noise=noise)

    def _step_fn(self, z, m, v, count, target, c, lr, noise_strength, seed):
        with tf.GradientTape() as tape:
            tape.watch(z)
            images = self._generate(z, c, noise_strength, seed)
            dist = self.distance(downsample_to(images), downsample_to(target))
            loss = tf.reduce_sum(dist)
        grad = tape.gradient(loss, z)
        # TF1 tf.train.AdamOptimizer (beta1 0.9, beta2 0.999, epsilon 1e-8 on the bias-corrected step).
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * tf.square(grad)
        lr_t = lr * tf.sqrt(1 - beta2 ** count) / (1 - beta1 ** count)
        return z - lr_t * m / (tf.sqrt(v) + eps), m, v, dist

    def _final_fn(self, z, target, c, seed):
        images = self._generate(z, c, 0.0, seed)
        return images, self.distance(downsample_to(images), downsample_to(target))

    def project(self, targets, labels=None, snapshot_steps=(), on_snapshot=None):
        """targets: [N,H,W,C] in [-1,1]. Returns (images [N,H,W,C] in [-1,1], IvOM distances [N]) as NumPy.
        on_snapshot(step, images) is called after the steps in `snapshot_steps` (1-based, e.g. {num_steps})."""
        target = tf.constant(np.asarray(targets, np.float32))
        n = int(target.shape[0])
        if tuple(target.shape[1:]) != (self.G.img_resolution, self.G.img_resolution, self.G.img_channels):
            raise UserError(f"images of shape {tuple(target.shape[1:])} do not match the network's output "
                            f"({self.G.img_resolution}x{self.G.img_resolution}x{self.G.img_channels})")
        c = tf.zeros([n, 0]) if labels is None or not self.G.c_dim else tf.constant(np.asarray(labels, np.float32))
        z = tf.constant(self.rng.randn(n, self.G.z_dim).astype(np.float32))
        m = tf.zeros_like(z)
        v = tf.zeros_like(z)
        base = int(self.rng.randint(2**31 - 1))
        for step in range(self.num_steps):
            lr, noise_strength = self.schedule(step)
            seed = tf.constant([base, step], tf.int64)
            z, m, v, _ = self._step(z, m, v, tf.constant(step + 1, tf.float32), target, c,
                                    tf.constant(lr, tf.float32), tf.constant(noise_strength, tf.float32), seed)
            if on_snapshot is not None and step + 1 in snapshot_steps:
                images, _ = self._final(z, target, c, tf.constant([base, -1 - step], tf.int64))
                on_snapshot(step + 1, images.numpy())
        images, dist = self._final(z, target, c, tf.constant([base, -1 - self.num_steps], tf.int64))
        return images.numpy(), dist.numpy()


def project_real_images(network, data_dir, dataset, num_images=3000, num_snapshots=1, minibatch_size=50,
                        num_steps=400, result_dir="results", rec_loss="lpips", lpips_weights=None, seed=0):
    """IG run_projector.py project-real-images: IvOM of the first `num_images` dataset images (stored order).
    Returns (run directory, IvOM distances [num_images])."""
    for flag, value in (("--num-images", num_images), ("--minibatch-size", minibatch_size),
                        ("--num-snapshots", num_snapshots)):
        if value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    distance = make_distance(rec_loss, lpips_weights)
    _, G, _ = open_for_sampling(network)
    data = ImageDataset(dataset if os.path.isabs(dataset) else os.path.join(data_dir or "", dataset))
    if data.shape != [G.img_resolution, G.img_resolution, G.img_channels]:
        raise UserError(f"--dataset {dataset}: images are {data.shape[0]}x{data.shape[1]}x{data.shape[2]}, the "
                        f"network makes {G.img_resolution}x{G.img_resolution}x{G.img_channels}; pass the dataset "
                        f"the network was trained on")
    num_images = min(num_images, data.num_images)
    projector = Projector(G, distance, num_steps=num_steps, seed=seed)
    snapshot_steps = set(num_steps - np.linspace(0, num_steps, num_snapshots, endpoint=False, dtype=int))
    run_dir = create_run_dir(result_dir, "project-real-images")
    name = os.path.basename(os.path.normpath(network))
    print(f"Projecting {num_images} images of {data.path} with {name} ({num_steps} steps, {rec_loss}) -> {run_dir}",
          flush=True)
    dists = []
    start = 0
    for images, labels, _ in data.iterate_numpy(batch_size=minibatch_size):
        images, labels = images[:num_images - start], labels[:num_images - start]
        if not len(images):
            break
        saved = range(start, start + min(len(images), IMAGES_SAVED_PER_BATCH))

        def write(step, results, saved=saved, first=start):
            for i in saved:
                save_image(to_uint8(results[i - first]), os.path.join(run_dir, f"image{i:04d}-step{step:04d}.png"))

        for i in saved:
            save_image(to_uint8(images[i - start]), os.path.join(run_dir, f"image{i:04d}-target.png"))
        _, batch_dists = projector.project(images, labels, snapshot_steps, write)
        dists.append(batch_dists)
        start += len(images)
        print(f"images {start}/{num_images}: mean {rec_loss} {float(np.mean(batch_dists)):.4f}", flush=True)
        if start >= num_images:
            break
    dists = np.concatenate(dists)
    line = f"{name}: IvOM = {float(np.mean(dists)):.6f}, std = {float(np.std(dists)):.6f}"
    print(line, flush=True)
    with open(os.path.join(run_dir, "ivom.txt"), "w") as f:
        f.write(line + f" ({len(dists)} images, {num_steps} steps, {rec_loss})\n")
    return run_dir, dists


def build_parser(prog="run_projector.py"):
    parser = OneLineParser(prog=prog, description="InclusiveGAN's IvOM projector: project real images into "
                                     "a generator's z space.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>")
    sub.required = True
    p = sub.add_parser("project-real-images", help="IvOM of the first --num-images dataset images",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       epilog=f"Example: python {prog} project-real-images --network=results/00000-celeba "
                              "--data-dir=datasets --dataset=celeba_align_png_cropped_30k --num-images=3000")
    p.add_argument("--network", required=True,
                   help="Network snapshot (network-snapshot-*.keras), a run directory, or an NVIDIA/IG/ADA .pkl")
    p.add_argument("--network-pkl", dest="network", help="InclusiveGAN's name for --network")
    p.add_argument("--data-dir", default="datasets", help="Dataset root directory")
    p.add_argument("--dataset", required=True, help="Dataset directory (under --data-dir)")
    p.add_argument("--num-images", type=int, default=3000, help="Number of images to project")
    p.add_argument("--num-snapshots", type=int, default=1, help="Result images written per projection")
    p.add_argument("--minibatch-size", type=int, default=50, help="Images projected together")
    p.add_argument("--num-steps", type=int, default=400, help="Optimisation steps")
    p.add_argument("--result-dir", default="results", help="Root directory for run results")
    p.add_argument("--rec-loss", choices=("lpips", "l2", "l1"), default="lpips",
                   help="Distance: lpips (IG's IvOM) or a pixel distance (needs no pretrained weights)")
    p.add_argument("--lpips-weights", default=None, help="LPIPS weight file or its directory (default: "
                                                        "$STYLEGAN2_WEIGHTS_DIR, then the cache)")
    p.add_argument("--seed", type=int, default=0, help="Seed of the initial latents and the noise")
    return parser


def run(argv):
    args = vars(build_parser().parse_args(argv))
    args.pop("command")
    return project_real_images(**args)


@exit_on_user_error
def main(argv=None):
    run(sys.argv[1:] if argv is None else argv)
