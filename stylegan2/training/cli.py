"""`python run_training.py ...`: NVIDIA's and InclusiveGAN's flags, turned into TrainingOptions by build_options."""

import argparse
import os

from inclusive import method as inclusive_method  # noqa: F401  (registers --method inclusive)
from stylegan2.dataset_tool.cli import str2bool
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.metrics.cli import add_metric_flags, metric_settings
from stylegan2.metrics.registry import list_metrics, parse_metrics
from stylegan2.presets import get_preset, list_presets
from stylegan2.training import stylegan2_method  # noqa: F401  (registers --method stylegan2)
from stylegan2.training.method import get_method, list_methods
from stylegan2.training.options import TrainingOptions

# InclusiveGAN's flags (IG:run_training.py), with its defaults; they belong to `--method inclusive`.
INCLUSIVE_FLAGS = {
    "data_size": (int, 30000, "Number of images in the dataset (IMLE pairs every image with a latent)"),
    "num_epochs": (int, 10000, "Training length in epochs: total_kimg = data_size * num_epochs // 1000"),
    "init_proj_dim": (int, None, "Random projection dimension for the nearest-neighbour search (none = pixels, "
                                 "0 = Johnson-Lindenstrauss bound)"),
    "init_staleness": (int, 10, "Epochs between nearest-neighbour rebuilds (doubles after each rebuild)"),
    "num_samples_factor": (int, 10, "Candidate latents per real image"),
    "knn_perturb_factor": (float, 0.05, "Slerp fraction of the retrieved latent toward fresh noise"),
    "candidate_batch_size": (int, 256, "Candidates generated per chunk"),
    "exclusive_retrieved_code": (int, 0, "1 = each candidate latent is retrieved at most once"),
    "NN_rec_lpips_weight": (float, 2.5, "Weight of the reconstruction loss (interpolation: 0.4x)"),
    "dist_thres_percentile": (float, 100.0, "Keep pairs whose nearest-neighbour distance is within this percentile"),
    "attr_interesting": (str, None, "Comma-separated attributes; the IMLE terms use only images having all of them"),
    "init_mul": (float, 1.0, "Multiplier of G's weight-init std"),
    # Not in IG: LPIPS needs pretrained VGG16 weights; l2/l1 (mean over pixels in [-1,1]) need none.
    "rec_loss": (str, "lpips", "Distance of the reconstruction/interpolation terms: lpips (IG's), l2 or l1"),
    "lpips_weights": (str, None, ("LPIPS weight file lpips_vgg16_v0.1.npz or its directory (default: "
                                  "$STYLEGAN2_WEIGHTS_DIR, then the cache)")),
}
REC_LOSSES = ("lpips", "l2", "l1")


def build_parser():
    methods = ", ".join(list_methods())
    parser = argparse.ArgumentParser(
        prog="run_training.py",
        description="Train a StyleGAN2-family GAN.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog=f"Methods: {methods}. Configs: {', '.join(list_presets())}. "
               f"Metrics: {', '.join(list_metrics()) or 'none yet'}.\n"
               "Example: python run_training.py --num-gpus=2 --data-dir=datasets --config=config-f "
               "--dataset=ffhq --mirror-augment=true")
    g = parser.add_argument_group("general")
    g.add_argument("--method", default=None, help=f"GAN method ({methods}); default stylegan2, or inclusive when "
                                                   f"InclusiveGAN's flags are given")
    g.add_argument("--config", default=None, help="Network and hyper-parameter preset (default config-f; "
                                                   "config-e for inclusive)")
    g.add_argument("--num-gpus", type=int, default=1, help="Replicas: GPUs, or logical CPU devices without a GPU")
    g.add_argument("--result-dir", default="results", help="Root directory for run results")
    g.add_argument("--seed", type=int, default=1000, help="Random seed")
    g.add_argument("--dry-run", action="store_true", help="Print the training options and exit")
    d = parser.add_argument_group("dataset")
    d.add_argument("--data-dir", default="datasets", help="Dataset root directory")
    d.add_argument("--dataset", required=True, help="Dataset directory (under --data-dir) made by dataset_tool.py")
    d.add_argument("--mirror-augment", type=str2bool, default=False, metavar="BOOL", help="Mirror augment (x-flips)")
    d.add_argument("--cond", type=str2bool, default=False, metavar="BOOL",
                   help="Condition G and D on the dataset's labels")
    t = parser.add_argument_group("training")
    t.add_argument("--total-kimg", type=float, default=None, help="Training length in thousands of real images "
                                                                   "(default 25000)")
    t.add_argument("--gamma", type=float, default=None, help="R1 weight (default: the config's, 100 for config-e, "
                                                              "10 for config-f)")
    t.add_argument("--batch", type=int, default=None, help="Global minibatch (default: the config's, 32)")
    t.add_argument("--minibatch-gpu", type=int, default=None, help="Per-GPU minibatch; global = this x --num-gpus "
                                                                    "(inclusive: IG's, D sees 2x this; default 6)")
    t.add_argument("--batch-gpu", type=int, default=None, help="Samples per replica in one gradient-accumulation "
                                                                "round (NVIDIA's minibatch_gpu; default: the config's, "
                                                                "4 for config-e/f, capped at the per-replica batch)")
    t.add_argument("--metrics", default="none", help="Comma-separated metrics at each snapshot, or none")
    t.add_argument("--resume", default=None, help="Run directory (resume exactly from its last checkpoint) or "
                                                   ".keras snapshot or NVIDIA/IG/ADA .pkl (start from its weights)")
    t.add_argument("--resume-pkl", dest="resume", help="InclusiveGAN's name for --resume")
    t.add_argument("--snapshot-ticks", type=int, default=None, help="Network snapshot and image grid every N ticks "
                                                                    "(default 10; inclusive: 5 x data_size // 1000)")
    t.add_argument("--checkpoint-ticks", type=int, default=1, help="Resumable checkpoint every N ticks")
    t.add_argument("--kimg-per-tick", type=float, default=None, help="Tick length (default: NVIDIA's table by "
                                                                      "resolution, 4-28)")
    t.add_argument("--grid", default="1080p", help="Image grid size: 1080p (NVIDIA's) or COLSxROWS")
    t.add_argument("--deterministic", type=str2bool, default=False, metavar="BOOL",
                   help="Deterministic TensorFlow ops (slower)")
    ig = parser.add_argument_group("InclusiveGAN (--method inclusive)")
    for name, (kind, default, help_text) in INCLUSIVE_FLAGS.items():
        ig.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None,
                        help=f"{help_text} (default: {default})")
    add_metric_flags(parser)
    return parser


def build_options(argv):
    """Parses a command line into TrainingOptions (validated; presets and metrics resolved)."""
    args = build_parser().parse_args(argv)
    method_options = {name: getattr(args, name) for name in INCLUSIVE_FLAGS if getattr(args, name) is not None}
    method = args.method or ("inclusive" if method_options else "stylegan2")
    if method_options and method != "inclusive":
        flags = ", ".join("--" + n.replace("_", "-") for n in method_options)
        raise UserError(f"{flags}: InclusiveGAN flags need --method inclusive")
    get_method(method)
    config = args.config or ("config-e" if method == "inclusive" else "config-f")
    preset = get_preset(config)
    hparams = dict(preset["training_kwargs"])
    hparams["mbstd_group_size"] = preset["D_kwargs"]["mbstd_group_size"]
    if args.gamma is not None:
        hparams["r1_gamma"] = args.gamma
    if args.num_gpus < 1:
        raise UserError(f"--num-gpus {args.num_gpus}: must be at least 1")
    if args.batch is not None and args.minibatch_gpu is not None:
        raise UserError("--batch and --minibatch-gpu: give one of them")
    batch = args.batch or (args.minibatch_gpu * args.num_gpus if args.minibatch_gpu else hparams["batch_size"])
    snapshot_ticks = args.snapshot_ticks if args.snapshot_ticks is not None else 10
    total_kimg = args.total_kimg if args.total_kimg is not None else 25000
    kimg_per_tick = args.kimg_per_tick
    batch_gpu = next(v for v in (args.batch_gpu, args.minibatch_gpu, hparams["batch_gpu"]) if v is not None)
    if method == "inclusive":
        if args.batch_gpu is not None:
            raise UserError("--batch-gpu: --method inclusive trains without gradient accumulation (IG asserts one "
                            "round); set the per-GPU batch with --minibatch-gpu")
        batch_gpu = None
        batch, snapshot_ticks, total_kimg, kimg_per_tick = _inclusive_defaults(args, method_options, hparams, config)
    if batch < 1:
        raise UserError(f"--batch {batch}: must be positive")
    if batch_gpu is not None and batch_gpu < 1:
        raise UserError(f"--batch-gpu {batch_gpu}: must be positive")
    for flag, value in (("--snapshot-ticks", snapshot_ticks), ("--checkpoint-ticks", args.checkpoint_ticks)):
        if value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    if total_kimg <= 0:
        raise UserError(f"--total-kimg {total_kimg}: must be positive")
    options = TrainingOptions(
        method=method, config=config, data_dir=args.data_dir, dataset=args.dataset, result_dir=args.result_dir,
        num_gpus=args.num_gpus, total_kimg=total_kimg, batch=batch, batch_gpu=batch_gpu,
        mirror_augment=args.mirror_augment,
        conditional=args.cond, metrics=parse_metrics(args.metrics), resume=args.resume, seed=args.seed,
        snapshot_ticks=snapshot_ticks, checkpoint_ticks=args.checkpoint_ticks,
        kimg_per_tick=kimg_per_tick, grid=args.grid, deterministic=args.deterministic, hparams=hparams,
        method_options=method_options, metric_settings=metric_settings(args))
    options.grid_size(4)  # validates --grid
    if options.resume and not os.path.exists(options.resume):
        raise UserError(f"--resume {options.resume}: no such run directory or snapshot file")
    return options, args.dry_run


def _inclusive_defaults(args, method_options, hparams, config):
    """InclusiveGAN's run_training.py defaults (reference §1.14, §2.1, §2.8), given flags taking precedence.

    Every IG flag's value is recorded in method_options (so training_options.json holds them all). Returns (global
    batch, network-snapshot ticks, total kimg, kimg per tick). The global batch is IG's D batch, 2 x minibatch_gpu x
    num_gpus (minibatch_gpu 6); the G terms use half of it. G_ema's half-life is doubled so that its beta equals IG's
    0.5 ** (minibatch_size / 10000) with IG's minibatch_size = batch / 2. IG's configs (config-e*, config-f) use
    IG's minibatch-stddev group of 6 (NVIDIA's: 4).
    """
    from inclusive import schedule

    for name, (_, default, _) in INCLUSIVE_FLAGS.items():
        method_options.setdefault(name, default)
    if method_options["rec_loss"] not in REC_LOSSES:
        raise UserError(f"--rec-loss {method_options['rec_loss']}: choose one of {', '.join(REC_LOSSES)}")
    batch = args.batch or 2 * (args.minibatch_gpu or 6) * args.num_gpus
    if batch < 2 or batch % 2:
        raise UserError(f"--batch {batch}: --method inclusive needs an even global batch (IG's 2 x minibatch)")
    data_size = method_options["data_size"]
    if data_size < 1 or data_size % batch:
        raise UserError(f"--data-size {data_size}: must be a positive multiple of the global batch {batch} "
                        f"(2 x --minibatch-gpu x --num-gpus) for --method inclusive")
    hparams["ema_kimg"] = hparams["ema_kimg"] * 2
    if config.startswith("config-"):
        hparams["mbstd_group_size"] = 6
    snapshot_ticks = args.snapshot_ticks if args.snapshot_ticks is not None else schedule.snapshot_ticks(data_size)[1]
    total_kimg = args.total_kimg if args.total_kimg is not None else \
        schedule.total_kimg(data_size, method_options["num_epochs"])
    kimg_per_tick = args.kimg_per_tick if args.kimg_per_tick is not None else 1.0
    return batch, snapshot_ticks, total_kimg, kimg_per_tick


def resume_options(options):
    """Resuming a run directory continues it with its own saved options (only --total-kimg may change)."""
    saved = os.path.join(options.resume, "training_options.json") if options.resume else None
    if not saved or not os.path.isfile(saved):
        return options
    resumed = TrainingOptions.load(saved)
    resumed.total_kimg = options.total_kimg
    resumed.resume = options.resume
    resumed.num_gpus = options.num_gpus
    return resumed


@exit_on_user_error
def main(argv=None):
    import sys

    options, dry_run = build_options(sys.argv[1:] if argv is None else argv)
    options = resume_options(options)
    if dry_run:
        print(options.to_json())
        return None
    from stylegan2.training.loop import TrainingLoop

    return TrainingLoop(options).train()
