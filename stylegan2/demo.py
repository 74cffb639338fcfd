"""The README's demo: the whole pipeline on the embedded default dataset (scikit-learn's digits, no download).

    python3 dev.py demo            (or: .venv/bin/python -m stylegan2.demo [--out demo] [--kimg 15])

1. `dataset_tool.py create_digits` writes a Stacked-MNIST-like dataset (32x32x3, 1000 classes) as TFRecords;
2. `dataset_tool.py info` reads every record back and prints its summary;
3. `run_training.py --config=small` trains a small StyleGAN2 on it for a few minutes on 2 CPU cores;
4. `run_generator.py generate-images` draws images from the trained G_ema.
"""

import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step(title, argv):
    print(f"\n=== {title}\n$ python {' '.join(argv)}", flush=True)
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="Directory for the demo's dataset and results")
    parser.add_argument("--num-images", type=int, default=10000, help="Images in the demo dataset")
    parser.add_argument("--kimg", type=float, default=15, help="Training length in thousands of images")
    args = parser.parse_args(argv)
    data_dir = os.path.join(args.out, "datasets")
    dataset = os.path.join(data_dir, "digits")
    results = os.path.join(args.out, "results")
    step("Build the demo dataset", ["dataset_tool.py", "create_digits", dataset, "--num_images", str(args.num_images),
                                    "--overwrite"])
    step("Inspect it", ["dataset_tool.py", "info", dataset])
    before = set(glob.glob(os.path.join(results, "*")))
    step("Train a small StyleGAN2", ["run_training.py", f"--data-dir={data_dir}", "--dataset=digits", "--config=small",
                                     f"--total-kimg={args.kimg}", "--kimg-per-tick=1", "--snapshot-ticks=5",
                                     "--grid=8x8", f"--result-dir={results}"])
    run_dir = max(set(glob.glob(os.path.join(results, "*"))) - before)
    step("Generate images", ["run_generator.py", "generate-images", f"--network={run_dir}", "--seeds=0-63",
                             "--truncation-psi=1.0", f"--result-dir={results}"])
    print(f"\nDone. Training run: {run_dir} (reals.png, fakes*.png, log.txt, network-snapshot-*.keras); "
          f"generated images: {max(glob.glob(os.path.join(results, '*-generate-images')))}")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode)
