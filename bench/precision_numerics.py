"""How far bf16 and fp16 outputs of G and D are from float32, per network resolution (the README's tolerance table).

    .venv/bin/python bench/precision_numerics.py [--presets tiny:8,16,32 bench32:32 config-e:64,128] [--batch 8]

For each preset and resolution: a seeded G and D (weights as initialised, then the noise strengths set to 0.1 so
that the noise inputs count), the same z, noise and images; G_ema-style inference (no truncation) in float32 and in
each reduced precision with --fp16-res (default 4, NVIDIA's); relative RMS error ||y - y32|| / ||y32|| and the largest
absolute error over RMS(y32), for G's images, D's scores on real-like images (G's float32 images), the R1 penalty
||dD/dx||^2 per image and the path lengths ||J_w^T y|| per latent (the two regularizers, through
stylegan2.losses; for fp16 with the inner gradient scaled by --fp16-loss-scale, as float16 training scales it by
its dynamic loss scale). Weights are float32 in every case; conv_clamp is 256 in all runs (reduced precision adds it), so
the float32 reference uses it too.
"""

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="2")


def errors(y, ref):
    import numpy as np

    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    rms = np.sqrt(np.mean(ref ** 2))
    return float(np.sqrt(np.mean((y - ref) ** 2)) / rms), float(np.max(np.abs(y - ref)) / rms)


def outputs(G, D, z, noise, images, pl_noise, loss_scale=None):
    """G's images, D's scores on `images`, the R1 penalties and the path lengths (their inner gradients scaled by
    `loss_scale`, as float16 training scales them)."""
    import tensorflow as tf

    from stylegan2 import losses

    generated = G(z, None, noise=noise)
    x = tf.constant(images)
    scores = D(x)
    penalty, _ = losses.r1_penalty(lambda images, c: D(images), x, None, loss_scale)
    ws = G.mapping(tf.constant(z), None)
    lengths, _ = losses.path_lengths(lambda w: G.synthesis(w, noise=noise), ws, tf.constant(pl_noise), loss_scale)
    return generated.numpy(), scores.numpy(), penalty.numpy(), lengths.numpy()


def compare(preset, resolution, batch, fp16_res, precisions, args_loss_scale=None, seed=0):
    import keras
    import numpy as np

    from stylegan2.precision import DEFAULT_CONV_CLAMP, apply_precision
    from stylegan2.presets import build_networks
    from stylegan2.training.snapshot import clone_model

    keras.utils.set_random_seed(seed)
    G, D = build_networks(preset, resolution, 3)
    G.synthesis.set_conv_clamp(DEFAULT_CONV_CLAMP)
    D.set_conv_clamp(DEFAULT_CONV_CLAMP)
    for layer in G.synthesis.convs:
        layer.noise_strength.assign(0.1)
    rnd = np.random.RandomState(seed)
    z = rnd.randn(batch, G.z_dim).astype(np.float32)
    noise = [rnd.randn(batch, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
    ref_images = G(z, None, noise=noise).numpy()
    pl_noise = rnd.randn(*ref_images.shape).astype(np.float32)
    reference = outputs(G, D, z, noise, ref_images, pl_noise)
    rows = []
    for precision in precisions:
        G2, D2 = clone_model(G), clone_model(D)
        for dst, src in ((G2, G), (D2, D)):
            for a, b in zip(dst.weights, src.weights):
                a.assign(b)
        apply_precision(G2, precision, fp16_res)
        apply_precision(D2, precision, fp16_res)
        scale = args_loss_scale if precision == "fp16" else None
        result = outputs(G2, D2, z, noise, ref_images, pl_noise, scale)
        finite = all(np.isfinite(r).all() for r in result)
        rows.append((precision, [errors(y, ref) for y, ref in zip(result, reference)], finite))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny:8,16,32", "bench32:32", "small:32,64", "config-e:64,128"],
                        help="preset:res,res,... entries")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--fp16-res", type=int, default=4)
    parser.add_argument("--precisions", default="bf16,fp16")
    parser.add_argument("--fp16-loss-scale", type=float, default=1.0, help="scale of fp16's R1 / path-length inner "
                                                                          "gradients (default: 1, unscaled)")
    args = parser.parse_args()
    print(f"relative RMS error (largest absolute error / RMS) against float32, --fp16-res {args.fp16_res}, "
          f"batch {args.batch}")
    print(f"{'preset':<10}{'res':>5}  {'precision':<9}  {'G images':<20}{'D scores':<20}{'R1 penalty':<20}"
          f"{'path lengths':<20}finite")
    for entry in args.presets:
        preset, resolutions = entry.split(":")
        for resolution in (int(r) for r in resolutions.split(",")):
            for precision, errs, finite in compare(preset, resolution, args.batch, args.fp16_res,
                                                   args.precisions.split(","), args.fp16_loss_scale):
                cells = "".join(f"{f'{rms:.2e} ({peak:.1e})':<20}" for rms, peak in errs)
                print(f"{preset:<10}{resolution:>5}  {precision:<9}  {cells}{finite}", flush=True)


if __name__ == "__main__":
    main()
