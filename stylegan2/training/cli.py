"""`python run_training.py ...`: NVIDIA's flags and every installed method's own flags, turned into TrainingOptions
by build_options.

Each method package declares its flags (`Method.flags`, shown under the method's heading in --help), its defaults for
the shared options and its validation (`Method.configure`); this module knows no method by name but `stylegan2`, the
backbone's own.
"""

import os

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import (OneLineParser, add_flags, finite_float, given_dests, given_flags, str2bool,
                             with_defaults)
from stylegan2.metrics.cli import add_metric_flags, metric_settings
from stylegan2.metrics.registry import list_metrics, parse_metrics
from stylegan2.precision import add_precision_flags, check_precision_flags
from stylegan2.presets import get_preset, list_presets
from stylegan2.training.method import get_method, list_methods, method_classes
from stylegan2.training.options import TrainingOptions

DEFAULT_METHOD = "stylegan2"
DEFAULT_CONFIG = "config-f"


def _inferring_methods():
    return [cls for cls in method_classes() if cls.infer_from_flags]


def build_parser():
    methods = list_methods()
    inferred = ", ".join(f"{cls.name} when one of its flags is given" for cls in _inferring_methods())
    parser = OneLineParser(
        prog="run_training.py",
        description="Train a StyleGAN2-family GAN.",
        epilog=f"Methods: {', '.join(methods)}. Configs: {', '.join(list_presets())}. "
               f"Metrics: {', '.join(list_metrics()) or 'none yet'}.\n"
               "Example: python run_training.py --num-gpus=2 --data-dir=datasets --config=config-f "
               "--dataset=ffhq --mirror-augment=true")
    g = parser.add_argument_group("general")
    g.add_argument("--method", default=None, help=f"GAN method: {', '.join(methods)} (default: {DEFAULT_METHOD}"
                                                   + (f", or {inferred}" if inferred else "") + ")")
    g.add_argument("--config", default=None, help=f"Network and hyper-parameter preset (default: the method's, "
                                                   f"{DEFAULT_CONFIG} for stylegan2)")
    g.add_argument("--num-gpus", type=int, default=1, help="Replicas: GPUs, or logical CPU devices without a GPU "
                                                           "(default: 1)")
    g.add_argument("--result-dir", default="results", help="Root directory for run results (default: results)")
    g.add_argument("--seed", type=int, default=1000, help="Random seed (default: 1000)")
    g.add_argument("--dry-run", action="store_true", help="Print the training options and exit")
    d = parser.add_argument_group("dataset")
    d.add_argument("--data-dir", default="datasets", help="Dataset root directory (default: datasets)")
    d.add_argument("--dataset", default=None, help="Dataset directory (under --data-dir) made by dataset_tool.py "
                                                    "(required, but when resuming a run directory)")
    d.add_argument("--mirror-augment", type=str2bool, default=None, metavar="BOOL",
                   help="Mirror augment (x-flips) (default: the method's, false)")
    d.add_argument("--cond", type=str2bool, default=False, metavar="BOOL",
                   help="Condition G and D on the dataset's labels (default: false)")
    t = parser.add_argument_group("training")
    t.add_argument("--total-kimg", type=finite_float, default=None, help="Training length in thousands of real "
                                                                          "images (default: the method's, 25000)")
    t.add_argument("--gamma", type=finite_float, default=None, help="R1 weight (default: the config's, 100 for "
                                                                    "config-e, 10 for config-f)")
    t.add_argument("--lr", type=finite_float, default=None, help="Adam learning rate of G and D, before the lazy "
                                                                 "regularization correction (default: the config's, "
                                                                 "0.002)")
    t.add_argument("--batch", type=int, default=None, help="Global minibatch (default: the config's, 32)")
    t.add_argument("--minibatch-gpu", type=int, default=None, help="Per-GPU minibatch; global = this x --num-gpus")
    t.add_argument("--batch-gpu", type=int, default=None, help="Samples per replica in one gradient-accumulation "
                                                                "round (NVIDIA's minibatch_gpu; default: the config's, "
                                                                "4 for config-e/f, capped at the per-replica batch)")
    t.add_argument("--metrics", default="none", help="Comma-separated metrics at each snapshot, or none")
    t.add_argument("--resume", default=None, help="Run directory (resume exactly from its last checkpoint) or "
                                                   ".keras snapshot or NVIDIA/IG/ADA .pkl (start from its weights)")
    t.add_argument("--resume-pkl", dest="resume", help="InclusiveGAN's name for --resume")
    t.add_argument("--snapshot-ticks", type=int, default=None, help="Network snapshot and image grid every N ticks "
                                                                    "(default: the method's, 10)")
    t.add_argument("--checkpoint-ticks", type=int, default=1, help="Resumable checkpoint every N ticks (default: 1)")
    t.add_argument("--kimg-per-tick", type=finite_float, default=None, help="Tick length (default: NVIDIA's table "
                                                                            "by resolution, 4-28)")
    t.add_argument("--grid", default="1080p", help="Image grid size: 1080p (NVIDIA's) or COLSxROWS (default: 1080p)")
    t.add_argument("--deterministic", type=str2bool, default=False, metavar="BOOL",
                   help="Deterministic TensorFlow ops (slower) (default: false)")
    add_precision_flags(parser.add_argument_group("performance"))
    owner = {}
    for cls in method_classes():
        if not cls.flags:
            continue
        for flag in cls.flags:
            if flag.name in owner or flag.option in {a for action in parser._actions for a in action.option_strings}:
                raise RuntimeError(f"method {cls.name}: flag {flag.option} is already declared "
                                   f"(by {owner.get(flag.name, 'the backbone')})")
            owner[flag.name] = cls.name
        add_flags(parser.add_argument_group(f"{cls.description} (--method {cls.name})"), cls.flags)
    add_metric_flags(parser)
    return parser


def _choose_method(args):
    """--method, else the one method (with infer_from_flags) whose flags were given, else stylegan2; flags of other
    methods are refused with one line."""
    given = {cls.name: given_flags(args, cls.flags) for cls in method_classes()}
    name = args.method
    if name is None:
        name = next((cls.name for cls in _inferring_methods() if given[cls.name]), DEFAULT_METHOD)
    cls = get_method(name)
    for other, values in given.items():
        if other != name and values:
            flags = ", ".join(f.option for f in get_method(other).flags if f.name in values)
            raise UserError(f"{flags}: {'an option' if len(values) == 1 else 'options'} of --method {other}, not of "
                            f"--method {name}; drop {'it' if len(values) == 1 else 'them'} or use --method {other}")
    return cls, given[name]


def build_options(argv):
    """Parses a command line into TrainingOptions (validated; presets, the method's defaults and metrics resolved)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.method is not None:
        get_method(args.method)  # an uninstalled method is named before its flags are called unknown
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    method, given = _choose_method(args)
    config = args.config or method.default_config or DEFAULT_CONFIG
    preset = get_preset(config)
    hparams = dict(preset["training_kwargs"])
    hparams["mbstd_group_size"] = preset["D_kwargs"]["mbstd_group_size"]
    if args.gamma is not None:
        hparams["r1_gamma"] = args.gamma
    if args.lr is not None:
        if args.lr <= 0:
            raise UserError(f"--lr {args.lr:g}: must be positive")
        hparams["lr"] = args.lr
    if args.num_gpus < 1:
        raise UserError(f"--num-gpus {args.num_gpus}: must be at least 1")
    if args.batch is not None and args.minibatch_gpu is not None:
        raise UserError("--batch and --minibatch-gpu: give one of them")
    batch = args.batch or (args.minibatch_gpu * args.num_gpus if args.minibatch_gpu else hparams["batch_size"])
    batch_gpu = next(v for v in (args.batch_gpu, args.minibatch_gpu, hparams["batch_gpu"]) if v is not None)
    precision, fp16_res = check_precision_flags(args.precision, args.fp16_res)
    options = TrainingOptions(
        method=method.name, config=config, data_dir=args.data_dir, dataset=args.dataset, result_dir=args.result_dir,
        num_gpus=args.num_gpus, total_kimg=args.total_kimg if args.total_kimg is not None else 25000, batch=batch,
        batch_gpu=batch_gpu, mirror_augment=args.mirror_augment, conditional=args.cond,
        metrics=parse_metrics(args.metrics), resume=args.resume, seed=args.seed,
        snapshot_ticks=args.snapshot_ticks if args.snapshot_ticks is not None else 10,
        checkpoint_ticks=args.checkpoint_ticks, kimg_per_tick=args.kimg_per_tick, grid=args.grid,
        deterministic=args.deterministic, precision=precision, fp16_res=fp16_res, hparams=hparams, method_options=with_defaults(method.flags, given),
        metric_settings=metric_settings(args))
    method.configure(options, args)
    if options.mirror_augment is None:  # not given, and the method has no default of its own
        options.mirror_augment = False
    if options.batch < 1:
        raise UserError(f"--batch {options.batch}: must be positive")
    if options.batch_gpu is not None and options.batch_gpu < 1:
        raise UserError(f"--batch-gpu {options.batch_gpu}: must be positive")
    for flag, value in (("--snapshot-ticks", options.snapshot_ticks), ("--checkpoint-ticks", options.checkpoint_ticks)):
        if value < 1:
            raise UserError(f"{flag} {value}: must be at least 1")
    if options.total_kimg <= 0:
        raise UserError(f"--total-kimg {options.total_kimg:g}: must be positive")
    if options.kimg_per_tick is not None and options.kimg_per_tick <= 0:
        raise UserError(f"--kimg-per-tick {options.kimg_per_tick:g}: must be positive")
    options.grid_size(4)  # validates --grid
    if options.resume and not os.path.exists(options.resume):
        raise UserError(f"--resume {options.resume}: no such run directory or snapshot file")
    if options.resume and os.path.isdir(options.resume):
        check_run_dir(options.resume)
    elif options.dataset is None:
        raise UserError("--dataset: missing; name a directory made by dataset_tool.py (under --data-dir)")
    return options, args.dry_run


def check_run_dir(path):
    """A directory given to --resume must be a run directory of run_training.py (never write into another folder)."""
    if os.path.isfile(os.path.join(path, "training_options.json")):
        return
    if not os.listdir(path):
        raise UserError(f"--resume {path}: an empty directory (a run killed before it began, or not a run); start the "
                        f"run again without --resume")
    raise UserError(f"--resume {path}: not a run directory of run_training.py (no training_options.json); pass a run "
                    f"directory or a network-snapshot-*.keras file")


# Options that may change when a run directory resumes: length, hardware, schedule of outputs, metrics, and the two
# remedies for a diverged run (learning rate, R1 weight). Changing anything else would silently make another run:
# that includes --precision and --fp16-res (other numerics, and float16's loss scales live only in its checkpoints).
RESUME_CHANGEABLE = ("total_kimg", "num_gpus", "batch_gpu", "metrics", "snapshot_ticks", "checkpoint_ticks",
                     "deterministic", "lr", "gamma", "inception", "weights_dir", "digit_classifier",
                     "metrics_num_images", "metrics_batch")
_NOT_COMPARED = ("resume", "dry_run", "result_dir", "data_dir", "dataset", "help")
_OPTION_OF = {"cond": ("conditional",), "minibatch_gpu": ("batch",), "gamma": ("hparams", "r1_gamma"),
              "lr": ("hparams", "lr"), "inception": ("metric_settings", "inception"),
              "weights_dir": ("metric_settings", "weights_dir"), "digit_classifier": ("metric_settings", "classifier"),
              "metrics_num_images": ("metric_settings", "num_images"),
              "metrics_batch": ("metric_settings", "batch_size")}


def _option_path(dest, options):
    if dest in _OPTION_OF:
        return _OPTION_OF[dest]
    if hasattr(options, dest):
        return (dest,)
    return ("method_options", dest)


def _get(options, path):
    value = options
    for key in path:
        value = getattr(value, key) if not isinstance(value, dict) else value.get(key)
    return value


def _set(options, path, value):
    target = options
    for key in path[:-1]:
        target = getattr(target, key) if not isinstance(target, dict) else target[key]
    if isinstance(target, dict):
        target[path[-1]] = value
    else:
        setattr(target, path[-1], value)


def resume_options(options, given=()):
    """Resuming a run directory continues it with its own saved options. Of the flags `given` on the command line,
    those in RESUME_CHANGEABLE apply; any other that differs from the run's own value is refused with one line."""
    saved = os.path.join(options.resume, "training_options.json") if options.resume else None
    if not saved or not os.path.isfile(saved):
        return options
    resumed = TrainingOptions.load(saved)
    if "dataset" in given and os.path.realpath(options.dataset_path) != os.path.realpath(resumed.dataset_path):
        raise UserError(f"--dataset {options.dataset}: the run in {options.resume} trains on {resumed.dataset_path}; "
                        f"a resumed run keeps its dataset (drop --dataset, or start a new run)")
    for dest in sorted(set(given) - set(_NOT_COMPARED)):
        path = _option_path(dest, options)
        new, old = _get(options, path), _get(resumed, path)
        if new == old or (dest == "precision" and new == resumed.resolved_precision):
            continue
        if dest == "precision" and resumed.resolved_precision not in (None, old):
            old = f"{old} ({resumed.resolved_precision})"
        flag = "--" + dest.replace("_", "-")
        if dest not in RESUME_CHANGEABLE:
            changeable = ", ".join("--" + d.replace("_", "-") for d in RESUME_CHANGEABLE[:9])
            raise UserError(f"{flag}: the run in {options.resume} was trained with {old!r}; {flag} cannot change "
                            f"when a run resumes (these can: {changeable} and the metric flags); drop it or start a "
                            f"new run")
        _set(resumed, path, new)
    resumed.resume = options.resume
    return resumed


@exit_on_user_error
def main(argv=None):
    import sys

    argv = sys.argv[1:] if argv is None else argv
    options, dry_run = build_options(argv)
    options = resume_options(options, given_dests(build_parser(), argv))
    if dry_run:
        print(options.to_json())
        return None
    from stylegan2.training.loop import TrainingLoop

    return TrainingLoop(options).train()
