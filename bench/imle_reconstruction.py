"""How fast Inclusive GAN's IMLE terms reconstruct a few dozen real digits: the setting of
tests/test_imle_reconstruction.py (its ReconstructionOnly method: D silenced), at any preset and resolution, with the
adversarial term on or off, printing the mean distance of G(z_i) to its own image and to the others as training goes.

    .venv/bin/python bench/imle_reconstruction.py --config small --resolution 32 --steps 800 [--adversarial]
        [--rec-weight 2.5] [--num-images 32] [--batch 8] [--every 200] [--work DIR]

Figures: own = mean over i of |G(z_i) - x_i|^2 (mean over pixels in [-1,1]), others = mean over i != j of
|G(z_i) - x_j|^2, nearest-is-own = fraction of i whose own image is nearer than any other. G, no truncation, no style
mixing; pixel L2 (--rec-loss l2); path length and style mixing off; minibatch-stddev group min(batch / 2, 4).
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--num-images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8, help="global batch (G's IMLE terms use all of it)")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--rec-weight", default="2.5", help="--NN-rec-lpips-weight (IG: 2.5, made for LPIPS)")
    parser.add_argument("--adversarial", action="store_true", help="keep D and the adversarial term (full method)")
    parser.add_argument("--work", default=None, help="folder for the dataset and run (default: a temporary one)")
    args = parser.parse_args()

    import numpy as np
    import PIL.Image
    from sklearn.datasets import load_digits

    import test_imle_reconstruction as recon
    from stylegan2.tfrecords import TFRecordExporter
    from stylegan2.training import cli
    from stylegan2.training.loop import TrainingLoop

    work = args.work or tempfile.mkdtemp(prefix="imle-")
    n, res = args.num_images, args.resolution
    images = np.rint(load_digits().images[:n] * (255 / 16)).astype(np.uint8)
    if res != 8:
        images = np.stack([np.asarray(PIL.Image.fromarray(d).resize((res, res), PIL.Image.BICUBIC)) for d in images])
    with TFRecordExporter(os.path.join(work, "digits"), n, progress=False) as tfr:
        tfr.add_images(images[:, np.newaxis])
    group = min(args.batch // 2, 4)
    options, _ = cli.build_options([
        "--method", "inclusive", "--data-dir", work, "--dataset", "digits", "--config", args.config,
        "--data-size", str(n), "--minibatch-gpu", str(args.batch // 2), "--rec-loss", "l2",
        "--exclusive-retrieved-code", "1", "--num-samples-factor", str(n), "--init-staleness", "100000",
        "--NN-rec-lpips-weight", args.rec_weight, "--result-dir", os.path.join(work, "results")])
    if not args.adversarial:
        options.method = recon.ReconstructionOnly.name
    options.hparams.update(pl_weight=0.0, style_mixing_prob=0.0, mbstd_group_size=group)
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": group}}
    loop = TrainingLoop(options)
    loop.prepare()
    loop.run_dir = os.path.join(work, "results")
    os.makedirs(loop.run_dir, exist_ok=True)
    method = loop.method
    method.on_start(loop)
    reals = next(loop.dataset.iterate_numpy(batch_size=n))[0]
    z = method.latents_np
    print(f"{args.config} at {res} px, {n} digits, batch {args.batch}, rec weight {args.rec_weight}, adversarial term "
          f"{'on' if args.adversarial else 'off'}", flush=True)

    def report(step, seconds):
        own, others = recon.own_and_others(recon.distances(loop.G, z, reals))
        print(f"step {step:5d} ({step * args.batch / n:4.0f} visits/image, {seconds:4.0f} s): own {own.mean():.4f} "
              f"others {others.mean():.4f} ratio {own.mean() / others.mean():.3f} nearest-is-own "
              f"{np.mean(own < others.min(axis=1)):.2f}  (load {os.getloadavg()[0]:.1f})", flush=True)

    report(0, 0)
    start = time.time()
    for step in range(1, args.steps + 1):
        loop.train_iteration()
        method.on_step(loop)
        if step % args.every == 0:
            report(step, time.time() - start)


if __name__ == "__main__":
    main()
