"""`python -m lis.sample_tsne`: the original's g_lis/sample_tsne.py: t-SNE maps of the latent codes at every depth
r = 0..N of a LIS snapshot (r0: the chain's input z, or w with --lis-space w; r: after r modules; R-iterative: after r
trips G -> R), one separate scikit-learn TSNE per depth as the original (so the maps are not aligned across depths).

    python -m lis.sample_tsne --network <snapshot> --nb-points 17500

Writes into <result-dir>/<NNNNN>-sample-tsne/: embedded_points_r{r:02d}.csv ('#x,y'; reused when --cache-dir holds
them), tsne_r{r:02d}.png (scatter, opacity 0.2), tsne_r{r:02d}_kde.png (smoothed 2-D histogram) and tsne_all.png
(the scatters of all depths side by side, then the density maps).
"""

import argparse
import os
import sys
import time

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, finite_float


def embed(codes, perplexity, max_iter, learning_rate, seed):
    from sklearn.manifold import TSNE

    tsne = TSNE(perplexity=perplexity, max_iter=max_iter, learning_rate=learning_rate, init="pca",
                random_state=seed)
    return tsne.fit_transform(np.asarray(codes, np.float64))


def read_points(path):
    return np.loadtxt(path, delimiter=",", comments="#", ndmin=2)


def sample_tsne(G, record, sampling, outdir, nb_points=17500, perplexity=40.0, max_iter=10000, learning_rate=4000.0,
                seed=0, cache_dir=None, verbose=True):
    """Writes the files of the module docstring; returns [embedded points [n, 2] per depth]."""
    from lis import plotting
    from lis.sampling import codes_by_depth

    rnd = np.random.RandomState(seed)
    z = rnd.randn(nb_points, G.z_dim).astype(np.float32)
    c = sampling.labels_batch(nb_points, rnd) if G.c_dim else None
    codes = codes_by_depth(G, record, z, c)
    embedded = []
    for r, code in enumerate(codes):
        name = f"embedded_points_r{r:02d}.csv"
        cached = os.path.join(cache_dir, name) if cache_dir else None
        if cached and os.path.isfile(cached):
            points = read_points(cached)
        else:
            start = time.time()
            points = embed(code, perplexity, max_iter, learning_rate, seed)
            if verbose:
                print(f"depth {r}: t-SNE of {len(code)} codes ({code.shape[1]}-d) in {time.time() - start:.0f} s",
                      flush=True)
        plotting.write_csv(os.path.join(outdir, name), "#x,y", points)
        embedded.append(points)
    # One symmetric range for every depth, from the 99.5th percentile (t-SNE throws a few far outliers).
    lim = float(np.ceil(max(np.percentile(np.abs(p), 99.5) for p in embedded) * 1.15))
    what = "z" if record["mode"] != "g_lis" or record.get("space", "z") == "z" else "w"
    scatters, maps = [], []
    for r, points in enumerate(embedded):
        title = f"t-SNE of {what} after {r} LIS module(s)" if record["mode"] == "g_lis" else \
            f"t-SNE of z after {r} G->R trip(s)"
        scatters.append(plotting.scatter(points, os.path.join(outdir, f"tsne_r{r:02d}.png"), lim, title,
                                         color=plotting.COLORS[r % len(plotting.COLORS)], alpha=0.2))
        maps.append(plotting.density_map(points, os.path.join(outdir, f"tsne_r{r:02d}_kde.png"), lim, title))
    plotting.tile(scatters + maps, len(embedded), os.path.join(outdir, "tsne_all.png"))
    return embedded


def build_parser():
    parser = OneLineParser(prog="python -m lis.sample_tsne", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--network", required=True, help="LIS network snapshot (.keras) or run directory")
    parser.add_argument("--nb-points", type=int, default=17500, help="Latents embedded per depth")
    parser.add_argument("--perplexity", type=finite_float, default=40.0, help="t-SNE perplexity")
    parser.add_argument("--max-iter", type=int, default=10000, help="t-SNE iterations (the original's n_iter)")
    parser.add_argument("--learning-rate", type=finite_float, default=4000.0, help="t-SNE learning rate")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the latents and of t-SNE")
    parser.add_argument("--cache-dir", default=None, help="A previous output directory: reuse its embedded points")
    parser.add_argument("--result-dir", default="results", help="Root of the output directory")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.nb_points < 4 * args.perplexity:
        raise UserError(f"--nb-points {args.nb_points}: t-SNE needs more than 3 x perplexity ({args.perplexity:g}) "
                        f"points; give at least {int(4 * args.perplexity)}")
    if args.max_iter < 250:
        raise UserError(f"--max-iter {args.max_iter}: scikit-learn's t-SNE needs at least 250")
    from lis.sample_images import open_lis
    from stylegan2.rundir import create_run_dir

    _, G, record, sampling, _ = open_lis(args.network)
    outdir = create_run_dir(args.result_dir, "sample-tsne")
    print(f"Run directory: {outdir}", flush=True)
    sample_tsne(G, record, sampling, outdir, args.nb_points, args.perplexity, args.max_iter, args.learning_rate,
                args.seed, args.cache_dir)
    return outdir


if __name__ == "__main__":
    from stylegan2 import environment

    environment.configure()
    main()
