"""The Stacked-MNIST digit classifier behind mode counts and KL (InclusiveGAN metrics/mode_counts.py, KL.py).

InclusiveGAN ships no classifier (its `stacked_mnist_classifier.pkl` is missing and of undocumented origin), so we
train a small CNN on MNIST digits and classify each colour channel of a Stacked-MNIST image separately: the three
predicted digits give the mode d0 + 10 d1 + 100 d2 (the dataset's label encoding).

The classifier takes 28x28x1 digits in [0,1]. Stacked-MNIST images are 32x32: 28x28 digits zero-padded by 2 pixels
(dataset_tool create_mnistrgb), so `classify_stacked` crops the central 28x28 of each channel instead of resizing.

    python -m stylegan2.metrics.digit_classifier --mnist-dir DIR --split test --holdout 2000 --output classifier.keras
"""

import argparse
import os
import sys
import time

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

INPUT_SIZE = 28
PAD = 2


def build_classifier(seed=0):
    """A small CNN (5x5 conv, pool, two 3x3 convs, pool, batch norm, dense 256, dropout) on 28x28x1 inputs in
    [0,1] -> 10 logits; random rotations, zooms and shifts while training."""
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    return keras.Sequential([
        keras.Input((INPUT_SIZE, INPUT_SIZE, 1)),
        L.RandomRotation(0.03, fill_mode="constant", seed=seed),
        L.RandomZoom(0.08, fill_mode="constant", seed=seed),
        L.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed),
        L.Conv2D(32, 5, activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Conv2D(64, 3, activation="relu"),
        L.BatchNormalization(),
        L.Conv2D(64, 3, activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dropout(0.3),
        L.Dense(256, activation="relu"),
        L.Dropout(0.3),
        L.Dense(10),
    ], name="mnist_digit_classifier")


def load_digits(mnist_dir=None, split="test", dataset=None):
    """uint8 digits [N,28,28] and labels [N] from MNIST idx files or a create_mnist TFRecords dataset."""
    if dataset:
        from stylegan2.dataset import ImageDataset

        ds = ImageDataset(dataset)
        if ds.channels != 1 or ds.label_dim != 10 or ds.shape[0] != 32:
            raise UserError(f"{dataset}: expected a create_mnist dataset (32x32x1, 10 labels), found "
                            f"{ds.shape[0]}x{ds.shape[1]}x{ds.channels} with {ds.label_dim} labels")
        images, labels = [], []
        for batch, onehot, _ in ds.iterate_numpy(1024):
            images.append(np.rint((batch[:, PAD:-PAD, PAD:-PAD, 0] + 1.0) * 127.5).clip(0, 255).astype(np.uint8))
            labels.append(np.argmax(onehot, axis=1))
        return np.concatenate(images), np.concatenate(labels).astype(np.int64)
    from stylegan2.dataset_tool.mnist import load_mnist

    if not mnist_dir or not os.path.isdir(mnist_dir):
        raise UserError(f"--mnist-dir {mnist_dir}: directory not found; pass the folder holding the MNIST idx files")
    return load_mnist(mnist_dir, split)


def holdout_split(num, holdout, seed=0):
    """(train indices, held-out indices): the held-out part is the last `holdout` of RandomState(seed).permutation."""
    if not 0 < holdout < num:
        raise UserError(f"--holdout {holdout}: must be between 1 and {num - 1} for {num} images")
    order = np.random.RandomState(seed).permutation(num)
    return np.sort(order[:-holdout]), np.sort(order[-holdout:])


def _as_input(digits):
    return (np.asarray(digits, np.float32) / 255.0)[..., np.newaxis]


def train_classifier(digits, labels, epochs=20, batch_size=128, seed=0, verbose=0):
    """Trains `build_classifier()` on uint8 digits [N,28,28] and labels [N]; returns the model."""
    import keras

    model = build_classifier(seed)
    steps = max(1, int(np.ceil(len(digits) / batch_size))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(_as_input(digits), labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    return model


def accuracy(model, digits, labels, batch_size=1000):
    logits = model.predict(_as_input(digits), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def save_classifier(model, path):
    """Saves as .keras under a temporary name, then renames (nothing half-written survives)."""
    if not path.endswith(".keras"):
        raise UserError(f"--output {path}: the classifier is saved as a .keras file; give a name ending in .keras")
    from stylegan2.training.snapshot import save_keras_atomic

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_keras_atomic(model, path)


def load_classifier(path):
    import keras

    if not os.path.isfile(path):
        raise UserError(f"{path}: digit classifier not found; train one with "
                        f"python -m stylegan2.metrics.digit_classifier --mnist-dir DIR --output {path}")
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a wrong or truncated file
        raise UserError(f"{path}: cannot load the digit classifier ({str(err).splitlines()[0] if str(err) else err!r});"
                        f" train it again") from None


def digit_probabilities(classifier, images, batch_size=1024):
    """Softmax probabilities of the digit in each channel: [N,H,W,C] in [-1,1] (generator output) -> float32
    [N,C,10]. Single digits are C = 1.

    32x32 images (28x28 digits padded by 2) are cropped to their central 28x28; 28x28 are used as they are; other
    sizes are resized to 32x32 (bilinear) and then cropped. `classifier` is a Keras model or a .keras path.
    """
    import tensorflow as tf

    if isinstance(classifier, (str, os.PathLike)):
        classifier = load_classifier(classifier)
    x = tf.convert_to_tensor(images, tf.float32)
    if x.shape.rank != 4:
        raise UserError(f"digit classifier: images of shape {x.shape.as_list()}, expected [N,H,W,C] in [-1,1]")
    n, h, w, c = x.shape
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        if (h, w) != (INPUT_SIZE + 2 * PAD,) * 2:
            x = tf.image.resize(x, [INPUT_SIZE + 2 * PAD] * 2, method="bilinear")
        x = x[:, PAD:-PAD, PAD:-PAD, :]
    digits = tf.reshape(tf.transpose((tf.clip_by_value(x, -1.0, 1.0) + 1.0) / 2.0, [0, 3, 1, 2]),
                        [-1, INPUT_SIZE, INPUT_SIZE, 1])
    probs = np.concatenate([np.asarray(tf.nn.softmax(classifier(digits[i:i + batch_size], training=False)))
                            for i in range(0, len(digits), batch_size)])
    return probs.reshape(n, c, -1).astype(np.float32)


def predict_stacked(classifier, images, batch_size=1024):
    """Per-channel digits and their softmax probabilities: [N,H,W,C] in [-1,1] -> (int64 [N,C], float32 [N,C])."""
    probs = digit_probabilities(classifier, images, batch_size)
    return np.argmax(probs, axis=2).astype(np.int64), np.max(probs, axis=2)


def classify_stacked(classifier, images, batch_size=1024):
    """Per-channel digits of Stacked-MNIST images: [N,H,W,C] in [-1,1] (generator output) -> int64 [N,C]
    (the argmax of `digit_probabilities`)."""
    return predict_stacked(classifier, images, batch_size)[0]


@exit_on_user_error
def main(argv=None):
    parser = OneLineParser(
        prog="python -m stylegan2.metrics.digit_classifier", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mnist-dir", help="folder with MNIST idx files (train-/t10k-images-idx3-ubyte[.gz], labels)")
    source.add_argument("--dataset", help="a create_mnist TFRecords dataset directory instead of idx files")
    parser.add_argument("--split", default="train", choices=["train", "test"], help="idx split (test = t10k)")
    parser.add_argument("--holdout", type=int, default=2000, help="images held out for the reported accuracy")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out permutation and of training")
    parser.add_argument("--output", required=True, help="the .keras file to write")
    args = parser.parse_args(argv)

    start = time.time()
    digits, labels = load_digits(args.mnist_dir, args.split, args.dataset)
    train, held = holdout_split(len(digits), args.holdout, args.seed)
    where = args.dataset or f"{args.mnist_dir} split '{args.split}'"
    print(f"data: {len(digits)} digits from {where}; training on {len(train)}, holding out {len(held)} "
          f"(the last {len(held)} of RandomState({args.seed}).permutation({len(digits)}))", flush=True)
    model = train_classifier(digits[train], labels[train], args.epochs, args.batch_size, args.seed, verbose=2)
    acc = accuracy(model, digits[held], labels[held])
    save_classifier(model, args.output)
    print(f"held-out accuracy: {acc:.4f} ({round(acc * len(held))}/{len(held)}) after {args.epochs} epochs, "
          f"{time.time() - start:.0f} s; saved {args.output}", flush=True)
    return acc


if __name__ == "__main__":
    main(sys.argv[1:])
