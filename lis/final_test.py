"""The final reconstruction test (g_lis/main.py --final_test): a run's best (default) or a named snapshot, tested on
the final-test images of its split file (lis.reconstruction: codes from 0, RMSprop, MSE in [0, 1]).

    python -m lis.final_test RUN_DIR [--net best|latest|FILE] [--split-file F] [--data-dir D --dataset N]

writes <RUN_DIR>/<net>_test/<i>.png (target | reconstruction, i = position in final_test) and loss.json
({"loss": mean MSE, "images", "snapshot", "steps", "lr", "per_image": [...]}). The split file and the dataset
default to the run's (training_options.json, the snapshot's metadata).
"""

import argparse
import json
import os
import sys

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, finite_float

from lis import reconstruction
from lis.split_data import load_split


def build_parser():
    parser = OneLineParser(prog="python -m lis.final_test", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", help="A --method lis run directory")
    parser.add_argument("--net", default="best", help="best (network-snapshot-best.keras), latest, or a snapshot file")
    parser.add_argument("--split-file", default=None, help="Split file (default: the run's --split-file)")
    parser.add_argument("--data-dir", default=None, help="Folder of the datasets (with --dataset; default: the "
                                                         "snapshot's dataset)")
    parser.add_argument("--dataset", default=None, help="Dataset under --data-dir")
    parser.add_argument("--test-steps", type=int, default=50, help="RMSprop steps per code")
    parser.add_argument("--test-lr", type=finite_float, default=reconstruction.TEST_LR, help="RMSprop learning rate")
    parser.add_argument("--batch", type=int, default=256, help="Codes optimised at once (memory only: the result "
                                                               "does not depend on it)")
    return parser


def resolve_snapshot(run_dir, net):
    from lis.method import BEST_SNAPSHOT
    from stylegan2.training.snapshot import latest_snapshot

    if net == "best":
        path = os.path.join(run_dir, BEST_SNAPSHOT)
        if not os.path.isfile(path):
            raise UserError(f"{run_dir}: no {BEST_SNAPSHOT} (a run writes it at its reconstruction tests, which need "
                            f"--split-file); pass --net latest or a snapshot file")
        return path, "best"
    if net == "latest":
        path = latest_snapshot(run_dir)
        if path is None:
            raise UserError(f"{run_dir}: no network-snapshot-*.keras in this run directory")
        return path, "latest"
    if not os.path.isfile(net):
        raise UserError(f"--net {net}: not best, latest or a snapshot file")
    return net, os.path.splitext(os.path.basename(net))[0]


def run_options(run_dir):
    path = os.path.join(run_dir, "training_options.json")
    if not os.path.isfile(path):
        raise UserError(f"{run_dir}: no training_options.json; pass the directory of a run_training.py run")
    with open(path) as f:
        return json.load(f)


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.test_steps < 1 or args.batch < 1 or not args.test_lr > 0:
        raise UserError(f"--test-steps {args.test_steps} --batch {args.batch} --test-lr {args.test_lr}: must be "
                        f"positive")
    if (args.data_dir is None) != (args.dataset is None):
        raise UserError("--data-dir and --dataset: give both (or neither: the snapshot's dataset)")
    options = run_options(args.run_dir)
    split_file = args.split_file or (options.get("method_options") or {}).get("split_file")
    if split_file is None:
        raise UserError(f"{args.run_dir}: the run had no --split-file; pass --split-file")
    path, net = resolve_snapshot(args.run_dir, args.net)

    from lis.method import read_images
    from stylegan2.dataset import ImageDataset
    from stylegan2.images import make_grid, save_image, to_uint8
    from stylegan2.training.snapshot import load_snapshot

    snap = load_snapshot(path)
    if snap.metadata.get("method") != "lis":
        raise UserError(f"{path}: a --method {snap.metadata.get('method')} snapshot; the test needs a --method lis one")
    dataset = ImageDataset(os.path.join(args.data_dir, args.dataset) if args.dataset else snap.metadata["dataset"])
    indices = load_split(split_file, dataset.num_images)["final_test"]
    if not len(indices):
        raise UserError(f"--split-file {split_file}: has no final-test images")
    images, labels = read_images(dataset, indices)
    labels = labels if snap.metadata.get("conditional") else None
    record = snap.metadata["sampling"]["lis"]
    render = reconstruction.make_render(snap.G_ema, record, labels)
    codes, losses = reconstruction.reconstruct(render, images, snap.G_ema.z_dim, args.test_steps, args.test_lr,
                                               batch=args.batch)
    out = os.path.join(args.run_dir, f"{net}_test")
    os.makedirs(out, exist_ok=True)
    recon = np.concatenate([np.asarray(render(codes[start:start + args.batch], slice(start, start + args.batch)))
                            for start in range(0, len(codes), args.batch)])
    for i in range(len(images)):
        save_image(make_grid(to_uint8(np.stack([images[i], recon[i]])), cols=2), os.path.join(out, f"{i}.png"))
    loss = float(np.mean(losses))
    record = {"loss": loss, "images": len(images), "snapshot": path, "steps": args.test_steps, "lr": args.test_lr,
              "per_image": [float(v) for v in losses]}
    tmp = os.path.join(out, f"loss.json.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, os.path.join(out, "loss.json"))
    print(f"Final test of {path} on {len(images)} images: loss {loss:.6f}; pairs and loss.json in {out}")
    return record


if __name__ == "__main__":
    from stylegan2 import environment

    environment.configure()
    main()
