"""The README's demo: the whole pipeline on the embedded default dataset (scikit-learn's digits, no download).

    python3 dev.py demo            (or: .venv/bin/python -m stylegan2.demo [--out demo])

1. `dataset_tool.py create_digits` writes a Stacked-MNIST-like dataset (32x32x3, 1000 classes) as TFRecords;
2. `dataset_tool.py info` reads every record back and prints its summary.
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step(title, argv):
    print(f"\n=== {title}\n$ {' '.join(argv)}", flush=True)
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="Directory for the demo's dataset and results")
    parser.add_argument("--num-images", type=int, default=10000, help="Images in the demo dataset")
    args = parser.parse_args(argv)
    data_dir = os.path.join(args.out, "datasets")
    dataset = os.path.join(data_dir, "digits")
    step("Build the demo dataset", ["dataset_tool.py", "create_digits", dataset, "--num_images", str(args.num_images),
                                    "--overwrite"])
    step("Inspect it", ["dataset_tool.py", "info", dataset])


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode)
