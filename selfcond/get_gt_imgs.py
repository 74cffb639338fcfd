"""Real images of a dataset as the original's `utils/get_gt_imgs.py` writes them: an .npz with keys `real` and `fake`
(the same array), N images [N, H, W, C] in [0, 255], for FID real statistics, FSD or any outside tool.

    python -m selfcond.get_gt_imgs --data-dir datasets --dataset cifar10 --num 50000 --output cifar_gt_imgs.npz

The original stores float32 holding whole numbers (its images come from 8-bit files through Normalize and back);
here the array is uint8, the same values at a quarter of the size. Like the original: no flips, no noise; the
images are the first --num records of a shuffled pass (the original shuffles its ImageNet/Places file list; for
CIFAR-10 it takes all 50,000, where the order does not matter). This backbone caches the real Inception statistics
of FID from the dataset itself (run_metrics.py), so FID does not need this file.
"""

import os

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

PROG = "python -m selfcond.get_gt_imgs"


def gt_images(dataset, num, seed):
    """uint8 [num, H, W, C]: the first `num` records of one shuffled pass over the dataset (at most all of them)."""
    from selfcond.features import to_uint8_images

    images, have = [], 0
    for batch, _, _ in dataset.iterate_numpy(batch_size=512, shuffle=True, seed=seed):
        images.append(to_uint8_images(batch[:num - have]))
        have += len(images[-1])
        if have >= num:
            break
    return np.concatenate(images)


def write_gt_npz(path, images):
    """The original's layout, written to a temporary name and renamed (never a half-written file at `path`)."""
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, fake=images, real=images)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def build_parser():
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="datasets", help="Dataset root directory (default: datasets)")
    parser.add_argument("--dataset", required=True, help="Dataset directory (under --data-dir) made by dataset_tool.py")
    parser.add_argument("--num", type=int, default=50000, help="Images to export (default: 50000, the original's)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the shuffled pass (default: 0)")
    parser.add_argument("--output", required=True, help="The .npz file to write (e.g. cifar_gt_imgs.npz)")
    return parser


@exit_on_user_error
def main(argv=None):
    import sys

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.num < 1:
        raise UserError(f"--num {args.num}: must be at least 1")
    if not args.output.endswith(".npz"):
        raise UserError(f"--output {args.output}: must end in .npz (NumPy would add it)")
    parent = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(parent):
        raise UserError(f"--output {args.output}: no such directory {parent}; create it first")
    from stylegan2.dataset import ImageDataset

    path = args.dataset if os.path.isabs(args.dataset) else os.path.join(args.data_dir, args.dataset)
    dataset = ImageDataset(path)
    if args.num > dataset.num_images:
        raise UserError(f"--num {args.num}: {dataset.path} has {dataset.num_images} images; give --num "
                        f"{dataset.num_images} or fewer")
    images = gt_images(dataset, args.num, args.seed)
    write_gt_npz(args.output, images)
    print(f"Wrote {len(images)} images {list(images.shape[1:])} (uint8 NHWC, keys real and fake) to {args.output}")
    return args.output


if __name__ == "__main__":
    from stylegan2 import environment  # before TensorFlow is imported

    environment.configure()
    main()
