"""`python -m lis.sample_density`: the original's g_lis/sample_density.py: how the LIS modules reshape each
component of the latent, as histograms of the codes at every depth r = 0..N (r0: the chain's input).

    python -m lis.sample_density --network <snapshot> --nb-points 500000 --components 50

Codes are clipped to [-6, 6]; for each of the first `--components` dimensions a 100-bin histogram normalised to sum
1 at every depth. Writes into <result-dir>/<NNNNN>-sample-density/: density_r{r:02d}_v{v:03d}.csv ('x,y': bin
centre, mass), density_all_v{v:03d}.png (every depth, y 0-0.06 as the original), density_r{r:02d}_v{v:03d}.png
(depth 0 against depth r in red), and density_grid.png (the first 16 components, all depths, 4x4 panels). Prints the
mean and std of each component before LIS, as the original.
"""

import argparse
import os
import sys

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

CLIP = 6.0
BINS = 100
Y_MAX = 0.06  # the original's y range


def histograms(codes, components, bins=BINS, clip=CLIP):
    """[depth][component] -> (bin centres [bins], mass [bins] summing to 1) of the clipped codes."""
    edges = np.linspace(-clip, clip, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    out = []
    for code in codes:
        clipped = np.clip(code, -clip, clip)
        per = []
        for v in range(components):
            counts, _ = np.histogram(clipped[:, v], bins=edges)
            per.append((centres, counts / max(counts.sum(), 1)))
        out.append(per)
    return out


def sample_density(G, record, sampling, outdir, nb_points=500000, components=50, seed=0, verbose=True):
    """Writes the files of the module docstring; returns the histograms."""
    from lis import plotting
    from lis.sampling import codes_by_depth

    rnd = np.random.RandomState(seed)
    z = rnd.randn(nb_points, G.z_dim).astype(np.float32)
    c = sampling.labels_batch(nb_points, rnd) if G.c_dim else None
    codes = codes_by_depth(G, record, z, c, batch=5000)
    components = min(components, codes[0].shape[1])
    if verbose:
        mean, std = codes[0].mean(axis=0), codes[0].std(axis=0)
        print(f"before LIS, per component: mean {np.array2string(mean[:components], precision=3)}", flush=True)
        print(f"before LIS, per component: std {np.array2string(std[:components], precision=3)}", flush=True)
    hists = histograms(codes, components)
    colors = plotting.COLORS
    panels = []
    for v in range(components):
        for r in range(len(codes)):
            x, y = hists[r][v]
            plotting.write_csv(os.path.join(outdir, f"density_r{r:02d}_v{v:03d}.csv"), "x,y", zip(x, y))
        curves = [(f"r{r}", hists[r][v][1], colors[r % len(colors)]) for r in range(len(codes))]
        title = f"component {v}: codes at depth 0..{len(codes) - 1}"
        image = plotting.lines(hists[0][v][0], curves, os.path.join(outdir, f"density_all_v{v:03d}.png"),
                               (-CLIP, CLIP), (0, Y_MAX), title, "value", "fraction of codes")
        if v < 16:
            panels.append(image)
        for r in range(1, len(codes)):
            pair = [("r0", hists[0][v][1], colors[0]), (f"r{r}", hists[r][v][1], (214, 39, 40))]
            plotting.lines(hists[0][v][0], pair, os.path.join(outdir, f"density_r{r:02d}_v{v:03d}.png"), (-CLIP, CLIP),
                           (0, Y_MAX), f"component {v}: depth 0 vs depth {r}", "value", "fraction of codes")
    plotting.tile(panels, 4, os.path.join(outdir, "density_grid.png"))
    return hists


def build_parser():
    parser = OneLineParser(prog="python -m lis.sample_density", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--network", required=True, help="LIS network snapshot (.keras) or run directory")
    parser.add_argument("--nb-points", type=int, default=500000, help="Latents per depth")
    parser.add_argument("--components", type=int, default=50, help="Components plotted (the first ones)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the latents")
    parser.add_argument("--result-dir", default="results", help="Root of the output directory")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.nb_points < 1 or args.components < 1:
        raise UserError(f"--nb-points {args.nb_points} --components {args.components}: both must be at least 1")
    from lis.sample_images import open_lis
    from stylegan2.rundir import create_run_dir

    _, G, record, sampling, _ = open_lis(args.network)
    outdir = create_run_dir(args.result_dir, "sample-density")
    print(f"Run directory: {outdir}", flush=True)
    sample_density(G, record, sampling, outdir, args.nb_points, args.components, args.seed)
    return outdir


if __name__ == "__main__":
    from stylegan2 import environment

    environment.configure()
    main()
