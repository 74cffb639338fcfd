"""The README's demo: the whole pipeline on the embedded default dataset (scikit-learn's digits, no download).

    python3 dev.py demo            (or: .venv/bin/python -m stylegan2.demo [--out demo] [--kimg 40])

1. `dataset_tool.py create_digits --channels 1` writes scikit-learn's handwritten digits as TFRecords: the GAN's
   1,497 training digits (`--split train`) and 300 held-out digits (`--split test`), 32x32x1, 10 classes;
2. `dataset_tool.py info` reads every record back and prints its summary;
3. `run_training.py --config=small --cond=true` trains a small class-conditional StyleGAN2 for a few minutes;
4. `run_generator.py generate-images --class=random` draws images from the trained G_ema;
5. the check: a digit classifier trained on the 300 held-out digits (which the GAN never saw) labels 1,000 generated
   digits (100 per class); the demo reports the fraction labelled with confidence >= 0.9, and with the class G was
   asked for, and writes `digits-by-class.png` (one row per class).

Why single, class-conditional digits: a stacked RGB digit triple at 32 px is hard for a person to read, and the
class rows make a working GAN obvious at a glance (row k should show the digit k); the classifier then checks
exactly that.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET = "small"
CONFIDENCE = 0.9  # a generated digit counts as recognised when the classifier gives it this probability or more
PER_CLASS = 100  # generated digits per class for the check (seeds 0..99 of each class)
GRID_COLS = 10  # digits per class row in digits-by-class.png


def step(title, argv):
    print(f"\n=== {title}\n$ python {' '.join(argv)}", flush=True)
    code = subprocess.run([sys.executable, *argv], cwd=ROOT).returncode
    if code:
        sys.exit(code)  # the step has printed its own error line


def check_digits(run_dir, train_dataset, test_dataset, out_dir, epochs=60, seed=0):
    """Trains the digit classifier on the held-out digits, then labels PER_CLASS generated digits per class.

    Writes `digits-by-class.png` and `digit_check.json` to out_dir; returns the figures as a dict.
    """
    from stylegan2 import environment

    environment.configure()
    import numpy as np

    from stylegan2.generate import load_generator, seed_inputs
    from stylegan2.images import save_grid
    from stylegan2.metrics.digit_classifier import accuracy, load_digits, predict_stacked, train_classifier

    start = time.time()
    held_digits, held_labels = load_digits(dataset=test_dataset)
    train_digits, train_labels = load_digits(dataset=train_dataset)
    classifier = train_classifier(held_digits, held_labels, epochs=epochs, batch_size=32, seed=seed)
    real = np.pad(train_digits, [(0, 0), (2, 2), (2, 2)])[..., np.newaxis] / 127.5 - 1.0
    _, real_confidence = predict_stacked(classifier, real)
    figures = {
        "classifier": f"trained on the {len(held_digits)} held-out digits (create_digits --split test), {epochs} epochs",
        "classifier_accuracy_on_gan_training_digits": accuracy(classifier, train_digits, train_labels),
        "real_digits_confident": float(np.mean(real_confidence >= CONFIDENCE)),
    }

    G = load_generator(run_dir)
    images, asked = [], []
    for k in range(G.c_dim):
        z, noise = seed_inputs(G, range(PER_CLASS))
        c = np.eye(G.c_dim, dtype=np.float32)[[k] * PER_CLASS]
        images.append(np.asarray(G(z, c, noise=noise)))  # G_ema, no truncation
        asked += [k] * PER_CLASS
    images, asked = np.concatenate(images), np.asarray(asked)
    digits, confidence = predict_stacked(classifier, images)
    digits, confidence = digits[:, 0], confidence[:, 0]
    confident = confidence >= CONFIDENCE
    figures.update({
        "generated": len(images),
        "generated_confident": float(np.mean(confident)),
        "generated_confident_and_as_asked": float(np.mean(confident & (digits == asked))),
        "generated_as_asked": float(np.mean(digits == asked)),
        "per_class_confident_and_as_asked": [float(np.mean((confident & (digits == asked))[asked == k]))
                                             for k in range(G.c_dim)],
        "network": os.path.relpath(run_dir, ROOT) if os.path.isabs(run_dir) else run_dir,
        "seconds": round(time.time() - start, 1),
    })
    grid = np.concatenate([images[asked == k][:GRID_COLS] for k in range(G.c_dim)])
    save_grid(grid, os.path.join(out_dir, "digits-by-class.png"), cols=GRID_COLS)
    tmp = os.path.join(out_dir, "digit_check.json.tmp")
    with open(tmp, "w") as f:
        json.dump(figures, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "digit_check.json"))
    return figures


@exit_on_user_error
def main(argv=None):
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="Directory for the demo's datasets and results")
    parser.add_argument("--kimg", type=float, default=40, help="Training length in thousands of images")
    parser.add_argument("--check", metavar="RUN_DIR", default=None,
                        help="Only run the digit check on an existing run directory of the demo")
    args = parser.parse_args(argv)
    start = time.time()
    data_dir = os.path.join(args.out, "datasets")
    train_dataset, test_dataset = os.path.join(data_dir, "digits"), os.path.join(data_dir, "digits_heldout")
    results = os.path.join(args.out, "results")
    if args.check:
        run_dir = args.check
        for path, made_by in ((run_dir, "a run directory of the demo"), (train_dataset, "the demo's datasets"),
                              (test_dataset, "the demo's datasets")):
            if not os.path.isdir(path):
                raise UserError(f"{path}: not found; --check needs {made_by} (run the demo once with --out {args.out})")
    else:
        step("Build the demo dataset: the GAN's training digits",
             ["dataset_tool.py", "create_digits", train_dataset, "--channels", "1", "--split", "train", "--overwrite"])
        step("... and 300 held-out digits for the classifier that checks the result",
             ["dataset_tool.py", "create_digits", test_dataset, "--channels", "1", "--split", "test", "--overwrite"])
        step("Inspect the training digits", ["dataset_tool.py", "info", train_dataset])
        before = set(glob.glob(os.path.join(results, "*")))
        step("Train a small class-conditional StyleGAN2",
             ["run_training.py", f"--data-dir={data_dir}", "--dataset=digits", f"--config={PRESET}", "--cond=true",
              f"--total-kimg={args.kimg}", "--kimg-per-tick=1", "--snapshot-ticks=10", "--grid=10x10",
              f"--result-dir={results}"])
        run_dir = max(set(glob.glob(os.path.join(results, "*"))) - before)
        step("Generate images (a random class per seed)",
             ["run_generator.py", "generate-images", f"--network={run_dir}", "--seeds=0-63", "--class=random",
              "--truncation-psi=1.0", f"--result-dir={results}"])
    print("\n=== Check: does a digit classifier recognise the generated digits?", flush=True)
    figures = check_digits(run_dir, train_dataset, test_dataset, args.out)
    print(f"Classifier ({figures['classifier']}): {figures['classifier_accuracy_on_gan_training_digits']:.1%} "
          f"accurate on the GAN's training digits, {figures['real_digits_confident']:.1%} of them labelled with "
          f"confidence >= {CONFIDENCE}.")
    print(f"Generated digits ({figures['generated']}, {PER_CLASS} per class): "
          f"{figures['generated_confident']:.1%} labelled with confidence >= {CONFIDENCE}, "
          f"{figures['generated_confident_and_as_asked']:.1%} confidently as the class G was asked for.")
    generated = sorted(glob.glob(os.path.join(results, "*-generate-images")))
    print(f"\nDone in {time.time() - start:.0f} s. Look at:\n"
          f"  {os.path.join(args.out, 'digits-by-class.png')}   one row per class 0-9 (G_ema, no truncation)\n"
          f"  {run_dir}/   fakes*.png over training, reals.png, log.txt, network-snapshot-*.keras\n"
          + (f"  {generated[-1]}/   seed*.png\n" if generated else "")
          + f"  {os.path.join(args.out, 'digit_check.json')}   the figures above")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as err:
        sys.exit(err.returncode)
