"""Images from a trained generator: NVIDIA's and InclusiveGAN's run_generator.py commands as functions.

    G = load_generator("results/00000-.../network-snapshot-000120.keras")  # its G_ema
    generate_images(G, parse_range("0-99,200"), outdir, truncation_psi=0.5)  # outdir/seed0000.png, ...
    generate_random_images(G, 30000, outdir)                                   # outdir/000000.png, ... (IG)
    style_mixing(G, [85, 100, 75], [55, 821], col_styles=range(7), outdir=outdir)
    interpolate(G, [1, 2, 3], outdir, steps=8, space="z")

Randomness is NVIDIA's: seed s gives z = RandomState(s).randn(1, z_dim), then (noise_mode 'random') the noise of every
layer from the same RandomState, in w-index order (TF1's noise0, noise1, ...). So an image depends on its seed alone,
not on the batch it was computed in, and a network imported from TF1 gives NVIDIA's z and noise for each seed.
InclusiveGAN's --num-images draws z from one RandomState(0), batch after batch (see generate_random_images).

`run(argv)` is the command line of run_generator.py (argparse subcommands); it raises UserError for bad input, and
`main` turns that into one `error: ...` line and exit code 2.
"""

import argparse
import os
import re
import sys
import time

import numpy as np
import PIL.Image

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, add_flags, finite_float
from stylegan2.images import make_grid, save_image, to_uint8
from stylegan2.precision import DEFAULT_FP16_RES, add_precision_flags, check_precision_flags
from stylegan2.precision import resolve as resolve_precision
from stylegan2.rundir import create_run_dir
from stylegan2.sampling import Sampling

# Keras (and so TensorFlow) is imported inside the functions that need it: `-h` and flag errors answer at once,
# without TensorFlow's start-up lines on stderr.

MAX_SEED = 2**32 - 1  # np.random.RandomState accepts seeds in [0, 2^32)
NOISE_MODES = ("const", "random", "none")

# === Parsing and loading ===


def parse_range(text, flag="--seeds", max_value=None):
    """'0-99,200' -> [0, 1, ..., 99, 200]: comma-separated integers and ranges a-b, both ends included (NV/ADA `num_range`).

    Order is kept, duplicates too. Raises UserError naming `flag` for anything else.
    """
    values = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise UserError(f"{flag} {text}: expected comma-separated integers and ranges, e.g. 0-99,200")
        lo = int(match.group(1))
        hi = lo if match.group(2) is None else int(match.group(2))
        if hi < lo:
            raise UserError(f"{flag} {text}: range {part.strip()} is empty; write it low-high")
        if max_value is not None and hi > max_value:
            raise UserError(f"{flag} {text}: {hi} is larger than {max_value}")
        values.extend(range(lo, hi + 1))
    return values


def parse_seeds(text, flag="--seeds"):
    """parse_range for RandomState seeds (0 to 2^32 - 1)."""
    return parse_range(text, flag, max_value=MAX_SEED)


def parse_class(text):
    """--class: None, 'random' or a non-negative class index."""
    if text is None or text == "random":
        return text
    if isinstance(text, int) or re.fullmatch(r"\d+", str(text)):
        return int(text)
    raise UserError(f"--class {text}: expected a class index (0, 1, ...) or random")


def load_generator(path):
    """The G_ema of a network snapshot: a network-snapshot-*.keras file, a run directory (its latest snapshot), or an
    NVIDIA/InclusiveGAN/ADA .pkl (imported by load_snapshot without running code from it)."""
    return load_network(path)[0]


def generation_flag_owners():
    """{flag name: (method name, Flag)} of every installed method's generation options."""
    from stylegan2.training.method import method_classes

    return {f.name: (cls.name, f) for cls in method_classes() for f in cls.generation_flags}


def load_network(path, options=None, precision="fp32", fp16_res=4):
    """(G, sampling) of a snapshot file or run directory, sampled as its training method records (stylegan2.sampling).

    options: {name: value} of the method generation flags given on the command line (Method.generation_flags).
    precision, fp16_res: how G computes ('fp32', 'bf16', 'fp16'; stylegan2.precision).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{path}: network snapshot not found; pass a network-snapshot-*.keras file or a run directory")
    from stylegan2.training.snapshot import open_for_sampling

    _, G, sampling = open_for_sampling(path, options, precision, fp16_res)
    return G, sampling


# === Latents, labels, noise ===


def class_labels(G, class_idx, keys, sampling=None):
    """One-hot labels c [len(keys), c_dim] (float32) for a conditional G, None for an unconditional one.

    class_idx: an index in [0, c_dim), or 'random' (a class per key from RandomState([1, key]), uniform or from the
    snapshot's recorded distribution, so it depends on the seed alone), or None (random for snapshots that record a
    class distribution; NVIDIA's conditional networks require --class). Raises UserError when --class is missing for
    a conditional G that needs it, given for an unconditional one, or out of range. Labels that are not one-hot
    (e.g. CelebA's 40 attributes) get a one-hot vector too.
    """
    return (sampling or Sampling(G.c_dim)).labels_for_keys(class_idx, keys)


def draw_noise(G, rnd):
    """One image's noise from a RandomState: a list of [1,H,W,1] float32 arrays, one per layer in w-index order."""
    return [rnd.randn(1, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]


def _stack_noise(per_image):
    """[[layer arrays of image 0], [image 1], ...] -> per layer [N,H,W,1], or None for no images/noise."""
    return [np.concatenate(layer) for layer in zip(*per_image)] if per_image and per_image[0] else None


def seed_inputs(G, seeds, noise_mode="random"):
    """(z [N,z_dim] float32, noise) of NV's generate-images: RandomState(seed) draws z, then each layer's noise.

    noise is a list of [N,H,W,1] arrays (G.synthesis.noise_shapes) for noise_mode 'random', else None.
    """
    zs, noise = [], []
    for seed in seeds:
        rnd = np.random.RandomState(seed)
        zs.append(rnd.randn(1, G.z_dim))
        if noise_mode == "random":
            noise.append(draw_noise(G, rnd))
    return np.concatenate(zs).astype(np.float32).reshape(len(zs), G.z_dim), _stack_noise(noise)


# === Running G ===


def map_latents(G, z, c=None, truncation_psi=1.0, truncation_cutoff=None, minibatch_size=50, sampling=None):
    """z [N,z_dim] (and c) -> truncated ws [N,num_ws,w_dim] as float32 NumPy, in batches; z first goes through the
    snapshot's `sampling.latents` (identity unless its method transforms latents)."""
    import keras

    if sampling is not None:
        z = np.asarray(sampling.latents(z), np.float32)
    ws = []
    for start in range(0, len(z), minibatch_size):
        zb = keras.ops.convert_to_tensor(z[start:start + minibatch_size], "float32")
        cb = None if c is None else keras.ops.convert_to_tensor(c[start:start + minibatch_size], "float32")
        w = G.truncate(G.mapping(zb, cb), float(truncation_psi), truncation_cutoff)
        ws.append(keras.ops.convert_to_numpy(w))
    return np.concatenate(ws).astype(np.float32)


def synthesize(G, ws, noise=None, noise_mode="const", minibatch_size=50):
    """ws [N,num_ws,w_dim] -> uint8 images [N,H,W,C], in batches.

    noise: a list of [N,H,W,1] arrays (overrides noise_mode), or None for the layers' own noise of `noise_mode`.
    """
    import keras

    images = []
    for start in range(0, len(ws), minibatch_size):
        end = start + minibatch_size
        wb = keras.ops.convert_to_tensor(ws[start:end], "float32")
        nb = None if noise is None else [keras.ops.convert_to_tensor(n[start:end], "float32") for n in noise]
        img = G.synthesis(wb, noise=nb, noise_mode=noise_mode if noise is None else None)  # [NHWC] in [-1,1]
        images.append(to_uint8(keras.ops.convert_to_numpy(img)))
    return np.concatenate(images)


class Progress:
    """'\\rlabel: done/total' on a terminal, a line every ~10% otherwise; nothing when disabled."""

    def __init__(self, total, label, enabled=True):
        self.total, self.label, self.enabled = total, label, enabled
        self.tty = sys.stdout.isatty()
        self.start = time.time()
        self.next_line = 0

    def update(self, done):
        if not self.enabled:
            return
        if self.tty:
            print(f"\r{self.label}: {done}/{self.total}", end="", flush=True)
        elif done >= self.next_line or done == self.total:
            print(f"{self.label}: {done}/{self.total}", flush=True)
            self.next_line = done + max(1, self.total // 10)

    def close(self):
        if self.enabled:
            sec = time.time() - self.start
            print(f"{chr(13) if self.tty else ''}{self.label}: {self.total} in {sec:.1f} s", flush=True)


def _check_batch(minibatch_size):
    if minibatch_size < 1:
        raise UserError(f"--minibatch-size {minibatch_size}: must be at least 1")


def _check_truncation(G, truncation_cutoff):
    if truncation_cutoff is not None and truncation_cutoff < 0:
        raise UserError(f"--truncation-cutoff {truncation_cutoff}: must be 0..{G.num_ws} (layers to truncate)")


def _check_interpolation(seeds, steps):
    if len(seeds) < 2:
        raise UserError(f"--seeds {','.join(map(str, seeds))}: interpolation needs at least two seeds, e.g. 1,2,3")
    if steps < 2:
        raise UserError(f"--steps {steps}: must be at least 2 (the two ends of each segment)")


# === generate-images ===


def generate_images(G, seeds, outdir, truncation_psi=0.5, truncation_cutoff=None, class_idx=None,
                    noise_mode="random", minibatch_size=50, verbose=True, sampling=None):
    """NV generate-images: one PNG per seed, `outdir/seed%04d.png`; returns their paths.

    truncation_psi: 1 = no truncation (NV's default 0.5). noise_mode: 'random' = NV's per-seed noise (drawn from the
    seed's RandomState after z), 'const' = the network's stored noise, 'none' = no noise.
    """
    _check_batch(minibatch_size)
    _check_truncation(G, truncation_cutoff)
    seeds = list(dict.fromkeys(seeds))  # a repeated seed would only rewrite its file
    labels = class_labels(G, class_idx, seeds, sampling)  # checks --class before any work
    paths, progress = [], Progress(len(seeds), "Generating images", verbose)
    for start in range(0, len(seeds), minibatch_size):
        batch = seeds[start:start + minibatch_size]
        z, noise = seed_inputs(G, batch, noise_mode)
        c = None if labels is None else labels[start:start + len(batch)]
        ws = map_latents(G, z, c, truncation_psi, truncation_cutoff, minibatch_size, sampling)
        images = synthesize(G, ws, noise, noise_mode, minibatch_size)
        for seed, image in zip(batch, images):
            paths.append(os.path.join(outdir, f"seed{seed:04d}.png"))
            save_image(image, paths[-1])  # atomic
        progress.update(len(paths))
    progress.close()
    return paths


def generate_random_images(G, num_images, outdir, truncation_psi=0.5, truncation_cutoff=None, class_idx=None,
                           noise_mode="random", minibatch_size=50, seed=0, verbose=True, sampling=None):
    """InclusiveGAN's generate-images: `outdir/%06d.png` for image 0..num_images-1; returns their paths.

    z as IG: one RandomState(seed=0); per batch z = randn(minibatch_size, z_dim), then one [1,H,W,1] draw per layer
    (IG sets the unused noise variables from the same stream), so z depends on --minibatch-size, as in IG. The
    last batch is drawn in full but only num_images images are written (IG wrote the whole last batch). noise_mode
    'random' (IG: randomize_noise) gives each image its own noise from a second stream, RandomState([2, seed]);
    --class=random draws image i's class from RandomState([1, i]).
    """
    if num_images < 1:
        raise UserError(f"--num-images {num_images}: must be at least 1")
    _check_batch(minibatch_size)
    _check_truncation(G, truncation_cutoff)
    class_labels(G, class_idx, [0], sampling)  # checks --class before any work
    rnd = np.random.RandomState(seed)
    noise_rnd = np.random.RandomState([2, seed])
    paths, progress = [], Progress(num_images, "Generating images", verbose)
    for start in range(0, num_images, minibatch_size):
        num = min(minibatch_size, num_images - start)
        z = rnd.randn(minibatch_size, G.z_dim)[:num].astype(np.float32)
        draw_noise(G, rnd)  # IG's tflib.set_vars(noise_vars) draws, keeping the z stream IG's
        noise = _stack_noise([draw_noise(G, noise_rnd) for _ in range(num)]) if noise_mode == "random" else None
        c = class_labels(G, class_idx, range(start, start + num), sampling)
        ws = map_latents(G, z, c, truncation_psi, truncation_cutoff, minibatch_size, sampling)
        for i, image in enumerate(synthesize(G, ws, noise, noise_mode, minibatch_size)):
            paths.append(os.path.join(outdir, f"{start + i:06d}.png"))
            save_image(image, paths[-1])
        progress.update(len(paths))
    progress.close()
    return paths


# === style-mixing-example ===


def check_col_styles(G, col_styles):
    """The layer indices of --col-styles as a sorted list, each in [0, G.num_ws)."""
    col_styles = sorted(set(col_styles))
    bad = [i for i in col_styles if not 0 <= i < G.num_ws]
    if bad:
        raise UserError(f"--col-styles: layer {bad[0]} is out of range; this network has {G.num_ws} layers "
                        f"(0-{G.num_ws - 1})")
    return col_styles


def style_mixing(G, row_seeds, col_seeds, col_styles, outdir, truncation_psi=0.5, truncation_cutoff=None,
                 class_idx=None, noise_mode="const", minibatch_size=50, verbose=True, sampling=None):
    """NV style-mixing-example: the row seed's w with the column seed's w at the layers `col_styles`.

    w = truncate(mapping(z)) with z = RandomState(seed).randn(z_dim). Writes `outdir/%d-%d.png` (row-col) for every
    pair and `s-s.png` for every seed's own image, and `grid.png`: first row the column seeds' images, first column
    the row seeds' images, top-left blank. noise_mode 'const' is NV's (fixed noise). Returns {(row, col): image}.
    """
    _check_batch(minibatch_size)
    _check_truncation(G, truncation_cutoff)
    col_styles = check_col_styles(G, col_styles)
    row_seeds, col_seeds = list(row_seeds), list(col_seeds)
    all_seeds = list(dict.fromkeys(row_seeds + col_seeds))
    c = class_labels(G, class_idx, all_seeds, sampling)
    if verbose:
        print(f"Generating W vectors for {len(all_seeds)} seeds...", flush=True)
    z = np.stack([np.random.RandomState(seed).randn(G.z_dim) for seed in all_seeds]).astype(np.float32)
    ws = map_latents(G, z, c, truncation_psi, truncation_cutoff, minibatch_size, sampling)
    w_of = dict(zip(all_seeds, ws))

    pairs = [(row, col) for row in row_seeds for col in col_seeds]
    mixed = np.stack([w_of[row] for row, _ in pairs])
    mixed[:, col_styles] = np.stack([w_of[col] for _, col in pairs])[:, col_styles]
    if verbose:
        print(f"Generating {len(all_seeds)} images and {len(pairs)} style-mixed images...", flush=True)
    own_images = synthesize(G, ws, None, noise_mode, minibatch_size)
    image_dict = {(seed, seed): image for seed, image in zip(all_seeds, own_images)}
    image_dict.update(zip(pairs, synthesize(G, mixed, None, noise_mode, minibatch_size)))  # as NV: a mixed (s, s) wins

    for (row, col), image in image_dict.items():
        save_image(image, os.path.join(outdir, f"{row}-{col}.png"))
    blank = np.zeros_like(image_dict[pairs[0]])
    cells = [blank] + [image_dict[(col, col)] for col in col_seeds]
    for row in row_seeds:
        cells += [image_dict[(row, row)]] + [image_dict[(row, col)] for col in col_seeds]
    save_image(make_grid(np.stack(cells), cols=len(col_seeds) + 1), os.path.join(outdir, "grid.png"))
    return image_dict


# === interpolate ===


def lerp(a, b, t):
    """(1 - t) a + t b, exact at t = 0 and t = 1."""
    return (1.0 - t) * a + t * b


def slerp(a, b, t):
    """Spherical interpolation of a, b [..., D] at t (broadcast over the leading axes), in float64.

    The angle is that between the directions of a and b; the norms are interpolated with the directions (White 2016,
    'Sampling Generative Networks', as used for StyleGAN's z). t = 0 gives a, t = 1 gives b exactly; (anti)parallel
    vectors fall back to lerp.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    unit_a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    unit_b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    omega = np.arccos(np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0))
    so = np.sin(omega)
    ok = so > 1e-6
    so = np.where(ok, so, 1.0)
    spherical = np.sin((1.0 - t) * omega) / so * a + np.sin(t * omega) / so * b
    return np.where(ok, spherical, lerp(a, b, t))


def interpolate(G, seeds, outdir, steps=8, space="z", truncation_psi=1.0, truncation_cutoff=None, class_idx=None,
                noise_mode="const", output="grid", minibatch_size=50, frame_ms=100, verbose=True, sampling=None):
    """Frames between consecutive seeds: `steps` per segment, both ends included (t = 0, 1/(steps-1), ..., 1).

    space 'z': slerp of z (labels lerped), then mapping and truncation; 'w': lerp of the truncated w. output 'grid':
    `outdir/grid.png`, one row per segment; 'gif': `outdir/interpolation.gif`, every segment in turn (shared ends
    once), frame_ms per frame. Returns the frames, uint8 [len(seeds)-1, steps, H, W, C].
    """
    seeds = list(seeds)
    _check_interpolation(seeds, steps)
    if space not in ("z", "w"):
        raise UserError(f"--space {space}: expected z or w")
    if output not in ("grid", "gif"):
        raise UserError(f"--output {output}: expected grid or gif")
    _check_batch(minibatch_size)
    _check_truncation(G, truncation_cutoff)
    c = class_labels(G, class_idx, seeds, sampling)
    z = np.stack([np.random.RandomState(seed).randn(G.z_dim) for seed in seeds])  # [S,z_dim] float64
    t = np.linspace(0.0, 1.0, steps)  # [T]
    num_segments = len(seeds) - 1
    if space == "z":
        zt = np.concatenate([slerp(z[i][None], z[i + 1][None], t) for i in range(num_segments)]).astype(np.float32)
        ct = None if c is None else np.concatenate([lerp(c[i], c[i + 1], t[:, None]) for i in range(num_segments)])
        ws = map_latents(G, zt, ct, truncation_psi, truncation_cutoff, minibatch_size, sampling)
    else:
        w = map_latents(G, z.astype(np.float32), c, truncation_psi, truncation_cutoff, minibatch_size, sampling)
        w = w.astype(np.float64)
        tw = t[:, None, None]
        ws = np.concatenate([lerp(w[i], w[i + 1], tw) for i in range(num_segments)]).astype(np.float32)
    if verbose:
        print(f"Generating {len(ws)} frames ({num_segments} segments of {steps}, {space} space)...", flush=True)
    frames = synthesize(G, ws, None, noise_mode, minibatch_size)
    frames = frames.reshape(num_segments, steps, *frames.shape[1:])
    if output == "grid":
        save_image(make_grid(frames.reshape(-1, *frames.shape[2:]), cols=steps), os.path.join(outdir, "grid.png"))
    else:
        sequence = [frames[0, 0]] + [frame for segment in frames for frame in segment[1:]]
        save_gif(sequence, os.path.join(outdir, "interpolation.gif"), frame_ms)
    return frames


def save_gif(frames, path, frame_ms=100):
    """uint8 [H,W,C] frames -> a looping GIF, atomically (temporary name, then rename)."""
    pil = [PIL.Image.fromarray(f[:, :, 0], "L") if f.shape[2] == 1 else PIL.Image.fromarray(f, "RGB") for f in frames]
    tmp = f"{path}.tmp-{os.getpid()}.gif"
    pil[0].save(tmp, save_all=True, append_images=pil[1:], duration=frame_ms, loop=0)
    os.replace(tmp, path)


# === Command line ===


def build_parser(prog="run_generator.py"):
    parser = OneLineParser(
        prog=prog,
        description="StyleGAN2 generator: images, style mixing and interpolations from a network snapshot.\n\n"
                    f"Run 'python {prog} <subcommand> --help' for subcommand help.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""examples:
  # Uncurated images, NVIDIA's (paper Figure 12)
  python {prog} generate-images --network=results/00000-ffhq/network-snapshot-025000.keras --seeds=6600-6625 --truncation-psi=0.5
  # InclusiveGAN's 30k images for FID/PRD (IG's own psi was 0.6)
  python {prog} generate-images --network=results/00000-celeba --num-images=30000 --truncation-psi=0.6 --result-dir=generation
  # Style mixing example (NVIDIA's style mixing video clip)
  python {prog} style-mixing-example --network=results/00000-ffhq --row-seeds=85,100,75,458,1500 --col-seeds=55,821,1789,293 --truncation-psi=1.0
  # Interpolation through three seeds, as a GIF
  python {prog} interpolate --network=results/00000-ffhq --seeds=1,2,3 --steps=16 --output=gif""")
    sub = parser.add_subparsers(dest="command", metavar="<subcommand>", help="Sub-commands")
    sub.required = True

    def command(name, desc, example):
        return sub.add_parser(name, help=desc, description=desc, epilog=f"Example: python {prog} {name} {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def common(p, psi, noise_modes, noise_default, noise_help):
        p.add_argument("--network", dest="network_pkl", required=True, metavar="PATH",
                       help="Network snapshot (network-snapshot-*.keras), a run directory (its latest snapshot), or an "
                            "NVIDIA/InclusiveGAN/ADA .pkl (imported without running code from it)")
        p.add_argument("--truncation-psi", type=finite_float, default=psi, metavar="PSI",
                       help="Truncation psi, w = w_avg + psi (w - w_avg); 1 = no truncation (default: %(default)s)")
        p.add_argument("--truncation-cutoff", type=int, default=None, metavar="N",
                       help="Truncate only the w of layers 0..N-1 (default: all layers)")
        p.add_argument("--class", dest="class_idx", default=None, metavar="IDX",
                       help="Class of a conditional network (required for one): an index, or random (per seed)")
        p.add_argument("--noise-mode", choices=noise_modes, default=noise_default,
                       help=f"{noise_help} (default: %(default)s)")
        p.add_argument("--minibatch-size", type=int, default=50, metavar="N",
                       help="Images per batch (default: %(default)s)")
        p.add_argument("--result-dir", default="results", metavar="DIR",
                       help="Root directory for run results; output goes to a new <DIR>/<NNNNN>-<subcommand>/ "
                            "(default: %(default)s)")
        add_precision_flags(p)
        add_generation_flags(p)

    p = command("generate-images", "Generate images: one per seed (NVIDIA) or --num-images from RandomState(0) "
                "(InclusiveGAN).", "--network=results/00000-ffhq --seeds=6600-6625 --truncation-psi=0.5")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--seeds", default=None, metavar="LIST",
                       help="Seeds, comma-separated integers and ranges (both ends included), e.g. 0-99,200; images seed%%04d.png")
    which.add_argument("--num-images", type=int, default=None, metavar="N",
                       help="Number of images, z from one RandomState(0) as InclusiveGAN; images %%06d.png "
                            "(default: 30000 when --seeds is not given)")
    common(p, 0.5, NOISE_MODES, "random",
           "Noise: random = drawn per seed after z (NVIDIA), const = the network's stored noise, none")
    p.epilog += ("\n\nInclusiveGAN's generate-images truncated with psi 0.6 (its G_main default); NVIDIA's uses 0.5; "
                 "--truncation-psi=1 disables truncation.")

    p = command("style-mixing-example", "Generate style-mixing images: the row seeds' w with the column seeds' w at "
                "--col-styles; a grid.png.", "--network=results/00000-ffhq --row-seeds=85,100,75,458,1500 "
                "--col-seeds=55,821,1789,293 --truncation-psi=1.0")
    p.add_argument("--row-seeds", required=True, metavar="LIST", help="Seeds of the rows, e.g. 85,100,75")
    p.add_argument("--col-seeds", required=True, metavar="LIST", help="Seeds of the columns, e.g. 55,821")
    p.add_argument("--col-styles", default="0-6", metavar="LIST",
                   help="Layers (w indices, 0..num_ws-1) whose w comes from the column seed (default: %(default)s)")
    common(p, 0.5, ("const", "none"), "const", "Noise: const = the network's stored noise (NVIDIA), none")

    p = command("interpolate", "Interpolate between seeds: --steps frames per segment, in z (slerp) or w (lerp).",
                "--network=results/00000-ffhq --seeds=1,2,3 --steps=8 --space=z --output=gif")
    p.add_argument("--seeds", required=True, metavar="LIST", help="Two or more seeds, e.g. 1,2,3 (segments 1-2, 2-3)")
    p.add_argument("--steps", type=int, default=8, help="Frames per segment, both ends included (default: %(default)s)")
    p.add_argument("--space", choices=("z", "w"), default="z",
                   help="z: spherical interpolation of z; w: linear interpolation of w (default: %(default)s)")
    p.add_argument("--output", choices=("grid", "gif"), default="grid",
                   help="grid.png (a row per segment) or interpolation.gif (default: %(default)s)")
    common(p, 1.0, ("const", "none"), "const", "Noise: const = the network's stored noise, none")
    return parser


def add_generation_flags(parser):
    """Every installed method's generation options, under the method's heading (checked against the snapshot)."""
    from stylegan2.training.method import method_classes

    for cls in method_classes():
        if cls.generation_flags:
            add_flags(parser.add_argument_group(f"{cls.description}: snapshots of --method {cls.name}"),
                      cls.generation_flags)


# Each command checks everything it can before loading the network, and everything else before creating its run
# directory, so a bad flag never leaves an empty run directory behind.


def _load(network_pkl, method_options, precision=None):
    print(f'Loading networks from "{network_pkl}"...', flush=True)
    precision, fp16_res = precision or ("fp32", DEFAULT_FP16_RES)
    if precision == "auto":
        precision, reason = resolve_precision("auto")
        print(f"Precision: {precision} (auto: {reason})", flush=True)
    return load_network(network_pkl, method_options, precision, fp16_res)


def _make_outdir(result_dir, desc):
    run_dir = create_run_dir(result_dir, desc)
    print(f"Run directory: {run_dir}", flush=True)
    return run_dir



def generate_images_command(network_pkl, seeds, num_images, truncation_psi, truncation_cutoff, class_idx,
                            noise_mode, minibatch_size, result_dir, method_options=None, precision=None):
    class_idx = parse_class(class_idx)
    seeds = None if seeds is None else parse_seeds(seeds)
    if num_images is None and seeds is None:
        num_images = 30000  # InclusiveGAN's default
    _check_batch(minibatch_size)
    if num_images is not None and num_images < 1:
        raise UserError(f"--num-images {num_images}: must be at least 1")
    G, sampling = _load(network_pkl, method_options, precision)
    _check_truncation(G, truncation_cutoff)
    class_labels(G, class_idx, [0], sampling)
    outdir = _make_outdir(result_dir, "generate-images")
    kwargs = dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, class_idx=class_idx,
                  noise_mode=noise_mode, minibatch_size=minibatch_size, sampling=sampling)
    if seeds is not None:
        generate_images(G, seeds, outdir, **kwargs)
    else:
        generate_random_images(G, num_images, outdir, **kwargs)
    return outdir


def style_mixing_command(network_pkl, row_seeds, col_seeds, col_styles, truncation_psi, truncation_cutoff, class_idx,
                         noise_mode, minibatch_size, result_dir, method_options=None, precision=None):
    class_idx = parse_class(class_idx)
    row_seeds = parse_seeds(row_seeds, "--row-seeds")
    col_seeds = parse_seeds(col_seeds, "--col-seeds")
    col_styles = parse_range(col_styles, "--col-styles")
    _check_batch(minibatch_size)
    G, sampling = _load(network_pkl, method_options, precision)
    _check_truncation(G, truncation_cutoff)
    check_col_styles(G, col_styles)
    class_labels(G, class_idx, [0], sampling)
    outdir = _make_outdir(result_dir, "style-mixing-example")
    style_mixing(G, row_seeds, col_seeds, col_styles, outdir, truncation_psi=truncation_psi,
                 truncation_cutoff=truncation_cutoff, class_idx=class_idx, noise_mode=noise_mode,
                 minibatch_size=minibatch_size, sampling=sampling)
    return outdir


def interpolate_command(network_pkl, seeds, steps, space, output, truncation_psi, truncation_cutoff, class_idx,
                        noise_mode, minibatch_size, result_dir, method_options=None, precision=None):
    class_idx = parse_class(class_idx)
    seeds = parse_seeds(seeds)
    _check_interpolation(seeds, steps)
    _check_batch(minibatch_size)
    G, sampling = _load(network_pkl, method_options, precision)
    _check_truncation(G, truncation_cutoff)
    class_labels(G, class_idx, [0], sampling)
    outdir = _make_outdir(result_dir, "interpolate")
    interpolate(G, seeds, outdir, steps=steps, space=space, truncation_psi=truncation_psi,
                truncation_cutoff=truncation_cutoff, class_idx=class_idx, noise_mode=noise_mode, output=output,
                minibatch_size=minibatch_size, sampling=sampling)
    return outdir


COMMANDS = {
    "generate-images": generate_images_command,
    "style-mixing-example": style_mixing_command,
    "interpolate": interpolate_command,
}


def run(argv, prog="run_generator.py"):
    """Runs one subcommand; returns its run directory. Raises UserError for bad input (flags, files, values)."""
    args = vars(build_parser(prog).parse_args(argv))
    command = args.pop("command")
    precision = check_precision_flags(args.pop("precision"), args.pop("fp16_res"))
    method_options = {name: args.pop(name) for name in generation_flag_owners() if name in args}
    method_options = {k: v for k, v in method_options.items() if v is not None}
    return COMMANDS[command](**args, method_options=method_options, precision=precision)


@exit_on_user_error
def main(argv=None):
    run(sys.argv[1:] if argv is None else argv)
