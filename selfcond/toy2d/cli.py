"""`python run_toy2d.py`: the original's `2d_mix/train.py` command line (same flags and defaults), plus --seed and
--eval_every; --nruns runs, then their summary (mean of each run's last 5 evaluations; mean, std, min, max)."""

import argparse
import os

from selfcond.clustering import CLUSTERERS
from selfcond.toy2d import data
from selfcond.toy2d.options import Toy2DOptions
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

EXAMPLES = """examples:
  # the paper's self-conditioned GAN on the ring and on the grid (the original's README; 100k iterations)
  python run_toy2d.py --clusterer selfcondgan --data_type ring
  python run_toy2d.py --clusterer selfcondgan --data_type grid
  # baselines: unconditional GAN (k = 1), class-conditional (ground truth), random labels, online k-means
  python run_toy2d.py --clusterer unconditional --data_type grid --nepochs 50 --nruns 3
"""


def build_parser(prog="run_toy2d.py"):
    p = OneLineParser(prog=prog, description="Self-conditioned GAN: 2D ring / grid experiments (2d_mix/train.py).",
                       formatter_class=lambda prog: argparse.ArgumentDefaultsHelpFormatter(prog, width=110),
                       epilog=EXAMPLES)
    p.add_argument("--clusterer", required=True, choices=CLUSTERERS,
                   help="Labels: selfcondgan (k-means on D features), supervised (ground truth), random_labels, "
                        "online (sequential k-means), unconditional (k = 1)")
    p.add_argument("--data_type", required=True, choices=data.DATA_TYPES, help="Either grid or ring")
    p.add_argument("--recluster_every", type=int, default=5000, help="How frequently to recluster (iterations)")
    p.add_argument("--nruns", type=int, default=1, help="Number of trials to do")
    p.add_argument("--burnin_time", type=int, default=0, help="Wait this many iterations before reclustering")
    p.add_argument("--variance", type=float, default=None,
                   help="Variance of the Gaussians (default: 1e-4 ring, 0.0025 grid)")
    p.add_argument("--model_type", default="standard", choices=("standard",), help="Model architecture")
    p.add_argument("--num_clusters", type=int, default=50,
                   help="Number of clusters (selfcondgan, online, random_labels; supervised uses 8 / 25)")
    p.add_argument("--z_dim", type=int, default=2, help="G latent dim")
    p.add_argument("--d_act_dim", type=int, default=200, help="D hidden layer width")
    p.add_argument("--npts", type=int, default=100000, help="Number of points in the training set")
    p.add_argument("--train_batch_size", type=int, default=100, help="Training batch size")
    p.add_argument("--test_batch_size", type=int, default=50000, help="Number of samples the metrics use")
    p.add_argument("--nepochs", type=int, default=100, help="Number of epochs (npts / train_batch_size iterations)")
    p.add_argument("--outdir", default="output", help="Root of the experiment directories")
    p.add_argument("--seed", type=int, default=0, help="Random seed (run i of --nruns uses (seed, i))")
    p.add_argument("--eval_every", type=int, default=1000, help="Metrics, plots and a checkpoint every N iterations")
    return p


def build_options(argv):
    """Command line -> validated Toy2DOptions."""
    args = build_parser().parse_args(argv)
    for name in ("recluster_every", "nruns", "num_clusters", "z_dim", "d_act_dim", "npts", "train_batch_size",
                 "test_batch_size", "nepochs", "eval_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)}: must be at least 1")
    if args.burnin_time < 0:
        raise UserError(f"--burnin_time {args.burnin_time}: must be 0 or more")
    if args.variance is not None and not args.variance > 0:
        raise UserError(f"--variance {args.variance}: must be positive")
    if args.npts < args.train_batch_size:
        raise UserError(f"--npts {args.npts}: smaller than --train_batch_size {args.train_batch_size} "
                        f"(no full batch; the last partial batch is dropped)")
    return Toy2DOptions(**vars(args))


def run(options, log=print):
    """Trains options.nruns runs (resuming any that were interrupted); returns the summary it writes."""
    from selfcond.toy2d.train import Toy2DRun, summarize, write_summary  # TensorFlow: only once flags are valid

    try:
        os.makedirs(options.exp_dir, exist_ok=True)
    except OSError as err:
        raise UserError(f"--outdir {options.outdir}: cannot create {options.exp_dir} ({err.strerror})") from err
    runs = [Toy2DRun(options, run, log=log) for run in range(options.nruns)]
    records = [run.train() for run in runs]
    summary = summarize(records, [run.reference_metrics() for run in runs])
    write_summary(os.path.join(options.exp_dir, "summary.json"), summary, options)
    log(f"{options.exp_dir}: {options.nruns} run(s), mean of the last {len(summary['runs'][0]['its'])} "
        f"evaluations each (the test set itself in brackets)")
    for key, label in (("modes", "modes"), ("prop_real", "% high quality"), ("kl", "reverse KL")):
        s, ref = summary[key], summary["test_set_" + key]
        scale = 100.0 if key == "prop_real" else 1.0
        log(f"  {label:15s} mean {s['mean'] * scale:.6g}  std {s['std'] * scale:.3g}  "
            f"min {s['min'] * scale:.6g}  max {s['max'] * scale:.6g}  [{ref['mean'] * scale:.6g}]")
    return summary


@exit_on_user_error
def main(argv=None):
    options = build_options(argv)
    run(options)


if __name__ == "__main__":
    main()
