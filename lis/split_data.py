"""Dataset split file (the original's common/split_data.py, data_index.pt): one random permutation p of a dataset's
records, running_test = p[:running], final_test = p[:final] (so the running test images are the first of the final
test images) and train = p[final:].

    python -m lis.split_data --data-dir datasets --dataset mnist --running 200 --final 2000 --seed 0

writes <data-dir>/<dataset>/lis-split.json (or --out) = {"running_test": [...], "final_test": [...], "train": [...],
"num_images": N, "seed": s}. `run_training.py --method lis --split-file FILE` trains on `train` only and runs the
reconstruction test on `running_test`; `python -m lis.final_test` tests on `final_test`.
"""

import argparse
import json
import os
import sys

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

SPLIT_FILE = "lis-split.json"
KEYS = ("running_test", "final_test", "train")


def make_split(num_images, running, final, seed):
    """{running_test, final_test, train}: index lists of one random permutation (the original's split)."""
    if final >= num_images:
        raise UserError(f"--final {final}: the dataset has {num_images} images; leave some to train on "
                        f"(--final below {num_images})")
    if not 0 <= running <= final:
        raise UserError(f"--running {running} --final {final}: need 0 <= running <= final (the running test images "
                        f"are the first of the final test images)")
    p = np.random.RandomState(seed).permutation(num_images)
    return {"running_test": p[:running].tolist(), "final_test": p[:final].tolist(), "train": p[final:].tolist(),
            "num_images": int(num_images), "seed": int(seed)}


def write_split(path, split):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(split, f)
    os.replace(tmp, path)


def load_split(path, num_images=None):
    """A split file, checked (every key present, indices within the dataset of `num_images` records)."""
    if not os.path.isfile(path):
        raise UserError(f"--split-file {path}: no such file; write one with python -m lis.split_data")
    try:
        with open(path) as f:
            split = json.load(f)
        parts = {k: np.asarray(split[k], np.int64).reshape(-1) for k in KEYS}
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"--split-file {path}: not a split file of python -m lis.split_data ({type(err).__name__}: "
                        f"{err})") from None
    if num_images is not None:
        if split.get("num_images") not in (None, num_images):
            raise UserError(f"--split-file {path}: made for a dataset of {split['num_images']} images, this one has "
                            f"{num_images}; write a new split with python -m lis.split_data")
        for k, v in parts.items():
            if len(v) and (v.min() < 0 or v.max() >= num_images):
                raise UserError(f"--split-file {path}: {k} has indices outside 0..{num_images - 1}")
    if not len(parts["train"]):
        raise UserError(f"--split-file {path}: has no training images")
    return parts


def build_parser():
    parser = OneLineParser(prog="python -m lis.split_data", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", default="datasets", help="Folder of the datasets")
    parser.add_argument("--dataset", required=True, help="Dataset (a dataset_tool.py folder) under --data-dir")
    parser.add_argument("--running", type=int, default=200, help="Running test images (reconstruction test during "
                                                                  "training)")
    parser.add_argument("--final", type=int, default=2000, help="Final test images (python -m lis.final_test)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the permutation")
    parser.add_argument("--out", default=None, help=f"Output file (default: <data-dir>/<dataset>/{SPLIT_FILE})")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from stylegan2.tfrecords import read_dataset_info

    info = read_dataset_info(os.path.join(args.data_dir, args.dataset))
    split = make_split(info.num_images, args.running, args.final, args.seed)
    out = args.out or os.path.join(info.path, SPLIT_FILE)
    write_split(out, split)
    print(f"{out}: {len(split['running_test'])} running test, {len(split['final_test'])} final test, "
          f"{len(split['train'])} training images of {info.num_images}")
    return out


if __name__ == "__main__":
    main()
