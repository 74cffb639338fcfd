"""Stacked-MNIST mode counting on real data: `mode_counts_24k` and `KL24k` of the dataset itself (~1000 modes,
KL ~ 0) and of a copy restricted to 100 label values (~100 modes), through `run_metrics.py --network=reals`.

    .venv/bin/python bench/stacked_mnist_modes.py --mnist-dir ../shared/data/mnist --classifier clf.keras [--work DIR]

Without --classifier it trains one first (python -m stylegan2.metrics.digit_classifier, on the same idx files).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure(log_level="3")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-dir", required=True, help="MNIST idx files (t10k-* for --split test)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--classifier", default=None, help="digit classifier .keras (default: train one)")
    parser.add_argument("--num-images", type=int, default=24000)
    parser.add_argument("--work", default=None, help="Folder for the datasets (default: a temporary folder)")
    args = parser.parse_args()

    import numpy as np

    from stylegan2.dataset import ImageDataset
    from stylegan2.dataset_tool.mnist import create_mnistrgb
    from stylegan2.metrics import cli as metrics_cli
    from stylegan2.metrics import digit_classifier
    from stylegan2.tfrecords import TFRecordExporter

    work = args.work or tempfile.mkdtemp(prefix="stacked-mnist-modes-")
    classifier = args.classifier or os.path.join(work, "classifier.keras")
    if not os.path.isfile(classifier):
        digit_classifier.main(["--mnist-dir", args.mnist_dir, "--split", args.split, "--output", classifier])
    full = os.path.join(work, "stacked_mnist")
    if not os.path.isdir(full):
        create_mnistrgb(full, args.mnist_dir, num_images=args.num_images, split=args.split)

    # The same images restricted to labels d0 + 10 d1 + 100 d2 < 100 (third digit 0): 100 label values.
    restricted = os.path.join(work, "stacked_mnist_100")
    if not os.path.isdir(restricted):
        dataset = ImageDataset(full)
        keep_images, keep_labels = [], []
        for images, labels, _ in dataset.iterate_numpy(1000):
            mask = labels.argmax(1) < 100
            keep_images.append(np.rint((images[mask] + 1) * 127.5).astype(np.uint8).transpose(0, 3, 1, 2))
            keep_labels.append(labels[mask])
        keep_images, keep_labels = np.concatenate(keep_images), np.concatenate(keep_labels)
        with TFRecordExporter(restricted, len(keep_images), progress=False) as tfr:
            tfr.add_images(keep_images)
            tfr.add_labels(keep_labels, label_kind="onehot")

    for path in (full, restricted):
        metrics_cli.main(["--metrics", "mode_counts_24k,KL24k", "--network", "reals", "--dataset", path,
                          "--digit-classifier", classifier, "--result-dir", os.path.join(work, "results")])


if __name__ == "__main__":
    main()
