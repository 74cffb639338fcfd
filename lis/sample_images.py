"""`python -m lis.sample_images`: the original's g_lis/sample_images.py (and r_iterative/sample_images.py) for a LIS
snapshot: image grids at every depth r = 0..N, chains over the depths, interpolations and perturbations, and with
`--r-encoder` the R-separate repaired images G(R(G(z))) and before|after pairs.

    python -m lis.sample_images --network results/00003-lis-mnist_test-small-1gpu-lis3z --r-encoder encoder-last.keras

Writes into <result-dir>/<NNNNN>-sample-images/ (r = depth; r0 = no module / no R trip):
    sampled_images_r{r}/r{r}_full_{i:04d}.png        16x16 grid            r{r}_small_{i:04d}.png  its first 8x8
    sampled_images_rsep_r{r}_after/rsep_r{r}_{full,small}_{i:04d}.png     repaired (with --r-encoder)
    sampled_images_rsep_r{r}_both/rsep_r{r}_chain_{full,small}_{i:04d}.png  before|after pairs
    sampled_images_chains/chain_{full,small}_{i:04d}.png   64 / 16 latents, each at depths 0..N in a row, 4 per row
    sampled_images_interpolations_r{r}/interp_r{r}_{i:04d}.png   10 frames, linear in z from a to b
    sampled_images_interpolations_all/interp_all_{i:04d}.png     one row per depth
    sampled_images_perturbations_r{r}/pert_r{r}_{i:04d}.png      8x8: the code, then code + N(0, 1) x 63
    sampled_images_perturbations_all/pert_all_{i:04d}.png        the first 16 per depth, a column per depth

Images use each layer's stored constant noise and no truncation (--truncation-psi), so an image depends on its latent
alone. The original's quirks are not reproduced: its interpolations show the start frame twice and its first
perturbation is G(2 x code).
"""

import argparse
import os
import sys

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, finite_float
from stylegan2.images import make_grid, save_image, to_uint8

GRID = 16  # the original's 16x16 sheets (nb_rows = nb_cols = 16)
INTERP_FRAMES = 10
PERTURBATIONS = 64


def open_lis(network, r_encoder=None):
    """(snapshot, G_ema, lis record, sampling, encoder or None) of a LIS snapshot file or run directory."""
    from stylegan2.training.snapshot import load_snapshot

    from lis.sampling import LISSampling, lis_record, load_encoder

    snap = load_snapshot(network)
    record = lis_record(snap.metadata)
    sampling = LISSampling.from_metadata(snap.metadata, snap.G_ema)
    encoder = load_encoder(r_encoder, snap.G_ema) if r_encoder else None
    return snap, snap.G_ema, record, sampling, encoder


def render(G, z, c, truncation_psi, batch=64):
    """uint8 [N,H,W,C] images of G(z, c) with each layer's stored constant noise."""
    return to_uint8(np.concatenate([np.asarray(G(z[i:i + batch], None if c is None else c[i:i + batch],
                                                 truncation_psi=truncation_psi, noise_mode="const"))
                                    for i in range(0, len(z), batch)]))


def sample_images(snapshot_G, record, sampling, outdir, encoder=None, rounds=20, seed=0, truncation_psi=1.0,
                  verbose=True):
    """Writes every sheet of the module docstring; returns {folder: number of files}."""
    from lis.networks import ChainedGenerator
    from lis.sampling import at_depth, max_depth

    top = max_depth(record)
    G_at = [at_depth(snapshot_G, record, r) for r in range(top + 1)]
    repaired = [ChainedGenerator(g, encoder, 1) for g in G_at] if encoder is not None else None
    rnd = np.random.RandomState(seed)
    written = {}

    def save(folder, name, image):
        os.makedirs(os.path.join(outdir, folder), exist_ok=True)
        save_image(image, os.path.join(outdir, folder, name))
        written[folder] = written.get(folder, 0) + 1

    def labels(n):
        return sampling.labels_batch(n, rnd) if snapshot_G.c_dim else None

    for i in range(rounds):
        z = rnd.randn(GRID * GRID, snapshot_G.z_dim).astype(np.float32)
        c = labels(len(z))
        by_depth = []
        for r in range(top + 1):
            images = render(G_at[r], z, c, truncation_psi)
            by_depth.append(images)
            save(f"sampled_images_r{r}", f"r{r}_full_{i:04d}.png", make_grid(images, GRID))
            save(f"sampled_images_r{r}", f"r{r}_small_{i:04d}.png", make_grid(images[:(GRID // 2) ** 2], GRID // 2))
            if repaired is not None:
                fixed = render(repaired[r], z, c, truncation_psi)
                save(f"sampled_images_rsep_r{r}_after", f"rsep_r{r}_full_{i:04d}.png", make_grid(fixed, GRID))
                save(f"sampled_images_rsep_r{r}_after", f"rsep_r{r}_small_{i:04d}.png",
                     make_grid(fixed[:(GRID // 2) ** 2], GRID // 2))
                pairs = np.concatenate([images, fixed], axis=2)  # before | after, side by side
                save(f"sampled_images_rsep_r{r}_both", f"rsep_r{r}_chain_full_{i:04d}.png", make_grid(pairs, GRID))
                save(f"sampled_images_rsep_r{r}_both", f"rsep_r{r}_chain_small_{i:04d}.png",
                     make_grid(pairs[:(GRID // 2) ** 2], GRID // 2))
        chains = np.concatenate(by_depth, axis=2)  # each latent's images at depths 0..N in a row
        save("sampled_images_chains", f"chain_full_{i:04d}.png", make_grid(chains[:64], 4))
        save("sampled_images_chains", f"chain_small_{i:04d}.png", make_grid(chains[:16], 4))
        if verbose:
            print(f"round {i + 1}/{rounds}: {GRID * GRID} latents at depths 0..{top}", flush=True)

    for i in range(rounds):
        a, b = rnd.randn(2, snapshot_G.z_dim)
        t = np.linspace(0.0, 1.0, INTERP_FRAMES)[:, None]
        z = (a + t * (b - a)).astype(np.float32)
        c = labels(1)
        c = None if c is None else np.repeat(c, INTERP_FRAMES, axis=0)
        rows = []
        for r in range(top + 1):
            row = np.concatenate(list(render(G_at[r], z, c, truncation_psi)), axis=1)
            rows.append(row)
            save(f"sampled_images_interpolations_r{r}", f"interp_r{r}_{i:04d}.png", row)
        save("sampled_images_interpolations_all", f"interp_all_{i:04d}.png", np.concatenate(rows, axis=0))

    for i in range(rounds):
        code = rnd.randn(1, snapshot_G.z_dim)
        offsets = rnd.randn(PERTURBATIONS, snapshot_G.z_dim)
        offsets[0] = 0.0  # the unperturbed code first
        z = (code + offsets).astype(np.float32)
        c = labels(1)
        c = None if c is None else np.repeat(c, PERTURBATIONS, axis=0)
        columns = []
        for r in range(top + 1):
            images = render(G_at[r], z, c, truncation_psi)
            save(f"sampled_images_perturbations_r{r}", f"pert_r{r}_{i:04d}.png", make_grid(images, 8))
            columns.append(np.concatenate(list(images[:16]), axis=0))
        save("sampled_images_perturbations_all", f"pert_all_{i:04d}.png", np.concatenate(columns, axis=1))
    return written


def build_parser():
    parser = OneLineParser(prog="python -m lis.sample_images", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--network", required=True, help="LIS network snapshot (.keras) or run directory")
    parser.add_argument("--r-encoder", default=None, help="R-separate encoder (.keras from python -m lis.train_r)")
    parser.add_argument("--rounds", type=int, default=20, help="Sheets of each kind (the original's 20)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the latents")
    parser.add_argument("--truncation-psi", type=finite_float, default=1.0, help="Truncation psi (1 = none)")
    parser.add_argument("--result-dir", default="results", help="Root of the output directory")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.rounds < 1:
        raise UserError(f"--rounds {args.rounds}: must be at least 1")
    _, G, record, sampling, encoder = open_lis(args.network, args.r_encoder)
    from stylegan2.rundir import create_run_dir

    outdir = create_run_dir(args.result_dir, "sample-images")
    print(f"Run directory: {outdir}", flush=True)
    written = sample_images(G, record, sampling, outdir, encoder, args.rounds, args.seed, args.truncation_psi)
    print(f"Wrote {sum(written.values())} images in {len(written)} folders", flush=True)
    return outdir


if __name__ == "__main__":
    from stylegan2 import environment

    environment.configure()
    main()
