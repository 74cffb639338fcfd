"""`python run_metrics.py --metrics=fid50k,pr50k3 --network=<snapshot or run dir> --data-dir=datasets --dataset=ffhq`.

Every snapshot of a run directory (or one snapshot file) is evaluated; results are printed, written to
`<result-dir>/<NNNNN>-run-metrics/log.txt` and appended to `metric-<name>.jsonl` there (NV's run_metrics.py layout).
"""

import argparse
import os
import shutil
import sys

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, str2bool
from stylegan2.metrics import protocols  # noqa: F401  (registers the metrics)
from stylegan2.metrics.registry import list_metrics, parse_metrics
from stylegan2.precision import add_precision_flags, check_precision_flags


def add_metric_flags(parser):
    """Flags shared by run_metrics.py and run_training.py --metrics."""
    g = parser.add_argument_group("metrics")
    g.add_argument("--inception", default="inception", choices=["inception", "keras-inception-v3"],
                   help="Network of FID/KID/IS: the 2015-12-05 Inception graph of published numbers, or Keras' "
                        "InceptionV3 (results labelled as not comparable)")
    g.add_argument("--weights-dir", default=None, help="Folder with feature-network weight files (default: "
                                                       "$STYLEGAN2_WEIGHTS_DIR, then ~/.cache/stylegan2-family)")
    g.add_argument("--digit-classifier", default=None, help="Stacked-MNIST digit classifier (.keras) for "
                                                            "mode_counts/KL metrics")
    g.add_argument("--metrics-num-images", type=int, default=None,
                   help="Use at most this many images per metric (a quick look; results are labelled)")
    g.add_argument("--metrics-batch", type=int, default=64, help="Images per generation/feature batch")
    return g


def metric_settings(args):
    """The metric flags as plain JSON-able keyword arguments of MetricContext."""
    if args.metrics_num_images is not None and args.metrics_num_images < 2:
        raise UserError(f"--metrics-num-images {args.metrics_num_images}: must be at least 2")
    return {"inception": args.inception, "weights_dir": args.weights_dir, "classifier": args.digit_classifier,
            "num_images": args.metrics_num_images, "batch_size": args.metrics_batch}


def snapshots_of(network):
    """The snapshot files to evaluate: one file (.keras, or an NVIDIA/ADA .pkl), or every network-snapshot-*.keras
    (or NVIDIA's network-snapshot-*.pkl) of a run directory ('reals': the dataset itself)."""
    if network == "reals":
        return ["reals"]
    if os.path.isdir(network):
        from stylegan2.training.snapshot import list_snapshots

        found = list_snapshots(network)
        if not found:
            raise UserError(f"--network {network}: no network-snapshot-*.keras in this run directory")
        return found
    if not os.path.isfile(network):
        raise UserError(f"--network {network}: no such snapshot file or run directory")
    return [network]


def build_parser():
    parser = OneLineParser(prog="run_metrics.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     epilog=f"Metrics: {', '.join(list_metrics())}.\nSub-command: run_metrics.py prd "
                                            f"--reference_dir=DIR --eval_dirs DIR... --eval_labels LABEL... (PRD of "
                                            f"image folders, InclusiveGAN's prd_from_image_folders.py; prd -h).")
    parser.add_argument("--metrics", default="fid50k", help="Comma-separated metric names")
    parser.add_argument("--network", required=True, help="Network snapshot (.keras or NVIDIA/ADA .pkl), run "
                                                          "directory (all snapshots), or 'reals' (the dataset's own "
                                                          "images: a sanity check)")
    parser.add_argument("--data-dir", default="datasets", help="Dataset root directory")
    parser.add_argument("--dataset", default=None, help="Dataset directory under --data-dir (default: the one the "
                                                        "snapshot was trained on)")
    parser.add_argument("--result-dir", default="results", help="Root directory for the run-metrics directory")
    parser.add_argument("--mirror-augment", type=str2bool, default=False, metavar="BOOL", help="Mirror the reals")
    parser.add_argument("--num-gpus", type=int, default=1, help="Replicas that generate images (GPUs, or logical "
                                                                "CPU devices)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated latents")
    add_precision_flags(parser.add_argument_group("performance (of the generator; feature networks run in float32)"))
    add_metric_flags(parser)
    from stylegan2.generate import add_generation_flags

    add_generation_flags(parser)
    return parser


@exit_on_user_error
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["prd"]:
        from stylegan2.metrics.prd import run_prd

        return run_prd(argv[1:])
    args = build_parser().parse_args(argv)
    names = parse_metrics(args.metrics)
    if not names:
        raise UserError("--metrics: give at least one metric")
    settings = metric_settings(args)
    args.precision, args.fp16_res = check_precision_flags(args.precision, args.fp16_res)
    files = snapshots_of(args.network)
    from stylegan2.training.strategy import make_strategy

    strategy = make_strategy(args.num_gpus)
    from stylegan2.rundir import create_run_dir

    run_dir = create_run_dir(args.result_dir, "run-metrics")
    results = {}
    try:
        _evaluate(args, names, settings, files, strategy, run_dir, results)
    except UserError:
        if not results:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing computed: leave no empty run directory behind
        raise
    return run_dir, results


def _evaluate(args, names, settings, files, strategy, run_dir, results):
    from stylegan2.dataset import ImageDataset
    from stylegan2.metrics.runner import MetricContext, run_metrics
    from stylegan2.generate import generation_flag_owners
    from stylegan2.training.snapshot import open_for_sampling

    method_options = {name: getattr(args, name) for name in generation_flag_owners()
                      if getattr(args, name, None) is not None}
    precision = args.precision
    if precision == "auto":
        from stylegan2.precision import resolve

        precision, reason = resolve("auto")

    with open(os.path.join(run_dir, "log.txt"), "a") as log_file:
        def log(line):
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        dataset = None
        for path in files:
            snap, G, sampling = (None, None, None) if path == "reals" else \
                open_for_sampling(path, method_options, precision, args.fp16_res)
            if dataset is None:
                source = args.dataset and (args.dataset if os.path.isabs(args.dataset)
                                           else os.path.join(args.data_dir, args.dataset))
                source = source or (snap and snap.metadata.get("dataset"))
                if not source:
                    raise UserError(f"--network {path}: name the dataset with --data-dir and --dataset")
                dataset = ImageDataset(source)
                log(f"Metrics {', '.join(names)} on {dataset.path} ({dataset.num_images} images); results in {run_dir}")
                if args.precision != "fp32":
                    log(f"Generator precision: {precision}" + (f" (auto: {reason})" if args.precision == "auto" else ""))
            ctx = MetricContext(G, dataset, strategy=strategy, mirror=args.mirror_augment, seed=args.seed,
                                sampling=sampling, snapshot=snap, **settings)
            results[path] = run_metrics(ctx, names, run_dir=run_dir, snapshot=path, kimg=snap and snap.metadata.get("kimg"),
                                        log=log)
