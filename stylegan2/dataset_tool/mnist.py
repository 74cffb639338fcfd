"""MNIST, Stacked MNIST (InclusiveGAN's 1000-mode benchmark) and the embedded scikit-learn digits."""

import gzip
import os

import numpy as np
import PIL.Image

from stylegan2.dataset_tool import tfds_source
from stylegan2.dataset_tool.common import (ExportOptions, check_disk_space, onehot, pad_28_to_32, shuffled_order,
                                           stacked_digit_chunks)
from stylegan2.errors import UserError

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
STACKED_CLASSES = 1000


def _idx_path(mnist_dir, prefix, kind):
    """train-images-idx3-ubyte.gz, or its uncompressed / dotted variants (train-images.idx3-ubyte)."""
    dims = "idx3" if kind == "images" else "idx1"
    candidates = [f"{prefix}-{kind}-{dims}-ubyte{ext}" for ext in (".gz", "")]
    candidates += [f"{prefix}-{kind}.{dims}-ubyte{ext}" for ext in (".gz", "")]
    for name in candidates:
        if os.path.isfile(os.path.join(mnist_dir, name)):
            return os.path.join(mnist_dir, name)
    raise UserError(f"{os.path.join(mnist_dir, candidates[0])}: MNIST file not found; put the idx files "
                    f"({prefix}-images-idx3-ubyte.gz, {prefix}-labels-idx1-ubyte.gz) in {mnist_dir} or choose --split")


def read_idx(path, expected_magic):
    """Reads an idx file (optionally gzipped): uint8 array shaped by its header."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot read idx file ({err}); download it again") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic != expected_magic:
        kind = "images (idx3)" if expected_magic == IDX_IMAGES_MAGIC else "labels (idx1)"
        raise UserError(f"{path}: wrong magic number {magic} (expected {expected_magic} for MNIST {kind}); "
                        f"is this the right file, and complete?")
    ndim = expected_magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) != offset + int(np.prod(dims)):
        raise UserError(f"{path}: truncated idx file ({len(raw) - offset} data bytes for shape {dims}); download it again")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def load_mnist(mnist_dir, split="train", tfds=False, tfds_data_dir=None):
    """MNIST digits uint8 [N,28,28] and labels int64 [N] from idx files (or TFDS 'mnist')."""
    if tfds:
        images, labels = tfds_source.load_arrays("mnist", split, tfds_data_dir, image_key="image", label_key="label")
        return images[..., 0], labels
    if split not in _SPLIT_PREFIX:
        raise UserError(f"--split {split}: MNIST idx files come as 'train' or 'test' (t10k)")
    if mnist_dir is None or not os.path.isdir(mnist_dir):
        raise UserError(f"{mnist_dir}: MNIST directory not found; pass the folder holding the idx files, or --tfds")
    prefix = _SPLIT_PREFIX[split]
    images_path, labels_path = _idx_path(mnist_dir, prefix, "images"), _idx_path(mnist_dir, prefix, "labels")
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC).astype(np.int64)
    if images.shape[1:] != (28, 28):
        raise UserError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28 MNIST digits")
    if images.shape[0] != labels.shape[0]:
        raise UserError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path}; "
                        f"use the label file of the same split")
    if labels.size and labels.max() > 9:
        raise UserError(f"{labels_path}: labels up to {labels.max()}, expected digits 0-9")
    return images, labels


def create_mnist(tfrecord_dir, mnist_dir, split="train", tfds=False, tfds_data_dir=None, export=ExportOptions()):
    """MNIST, 1x32x32 (28x28 zero-padded), shuffled with NVIDIA's seed, 10-class one-hot labels (NV create_mnist)."""
    export.check(tfrecord_dir)
    digits, classes = load_mnist(mnist_dir, split, tfds, tfds_data_dir)
    images = pad_28_to_32(digits)[:, np.newaxis]  # [N,1,32,32]
    order = shuffled_order(len(images))
    source = {"kind": "mnist", "dir": mnist_dir, "split": split, "tfds": bool(tfds)}
    with export.exporter(tfrecord_dir, len(images), source) as tfr:
        tfr.add_images(images[order])
        tfr.add_labels(onehot(classes[order], 10), label_names=[str(d) for d in range(10)], label_kind="onehot")


def _write_stacked(tfrecord_dir, digits32, classes, num_images, random_seed, source, export, chunk=20000):
    # 3x32x32 bytes per image (4/3 of it with the lower resolutions) and a 1000-float one-hot label row.
    check_disk_space(tfrecord_dir, num_images, 3 * 32 * 32 * (4 / 3 if export.lods else 1) + 4 * STACKED_CLASSES)
    stacked = []
    with export.exporter(tfrecord_dir, num_images, source) as tfr:
        for images, chunk_classes in stacked_digit_chunks(digits32, classes, num_images, random_seed, chunk):
            tfr.add_images(images)
            stacked.append(chunk_classes)
        # Written in generation order (no shuffle), as IG does; class d0 + 10 d1 + 100 d2 as a 1000-d one-hot.
        tfr.add_labels(onehot(np.concatenate(stacked), STACKED_CLASSES),
                       label_names=[f"{c:03d}" for c in range(STACKED_CLASSES)], label_kind="onehot")


def create_mnistrgb(tfrecord_dir, mnist_dir, num_images=1000000, random_seed=123, split="train", tfds=False,
                    tfds_data_dir=None, export=ExportOptions()):
    """Stacked MNIST (IG create_mnistrgb): three random digits per image as R, G, B; 1000-class labels."""
    export.check(tfrecord_dir)
    if num_images < 1:
        raise UserError(f"--num_images {num_images}: must be at least 1")
    digits, classes = load_mnist(mnist_dir, split, tfds, tfds_data_dir)
    source = {"kind": "mnistrgb", "dir": mnist_dir, "split": split, "tfds": bool(tfds), "random_seed": random_seed}
    _write_stacked(tfrecord_dir, pad_28_to_32(digits), classes, num_images, random_seed, source, export)


def load_sklearn_digits():
    """scikit-learn's 1,797 bundled 8x8 digits (values 0-16) as MNIST-like uint8 [N,28,28] and labels [N]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    big = np.stack([np.asarray(PIL.Image.fromarray(d).resize((28, 28), PIL.Image.BICUBIC)) for d in small])
    return big, bunch.target.astype(np.int64)


DIGITS_TEST_SIZE = 300  # scikit-learn's digits have no test split: these 300 (seeded) are held out as one
DIGITS_SPLIT_SEED = 0


def split_sklearn_digits(digits, classes, split):
    """The 'all', 'train' (1,497) or 'test' (300) part of scikit-learn's digits, in their stored order; the test
    digits are the last 300 of RandomState(0).permutation(1797)."""
    if split == "all":
        return digits, classes
    if split not in ("train", "test"):
        raise UserError(f"--split {split}: choose all, train or test")
    held = np.zeros(len(digits), bool)
    held[np.random.RandomState(DIGITS_SPLIT_SEED).permutation(len(digits))[-DIGITS_TEST_SIZE:]] = True
    keep = held if split == "test" else ~held
    return digits[keep], classes[keep]


def create_digits(tfrecord_dir, num_images=None, random_seed=123, channels=3, split="all", export=ExportOptions()):
    """The embedded default dataset from scikit-learn's handwritten digits; needs no download, so the demo and the
    tests run anywhere. channels 3: stacked like Stacked MNIST (32x32x3, 1000-class labels, num_images composites,
    default 10,000); channels 1: like create_mnist (32x32x1, 10-class labels, every digit of the split once,
    shuffled). split: all, or train / test (1,497 / 300 digits, disjoint: e.g. a GAN on train, a classifier on
    test)."""
    export.check(tfrecord_dir)
    if channels not in (1, 3):
        raise UserError(f"--channels {channels}: choose 1 (single digits) or 3 (stacked)")
    digits, classes = split_sklearn_digits(*load_sklearn_digits(), split)
    source = {"kind": "sklearn_digits", "random_seed": random_seed, "channels": channels, "split": split}
    if channels == 1:
        if num_images is not None:
            raise UserError("--num_images: only for --channels 3 (stacked); --channels 1 writes every digit of the "
                            "split once")
        order = shuffled_order(len(digits))
        with export.exporter(tfrecord_dir, len(digits), source) as tfr:
            tfr.add_images(pad_28_to_32(digits)[order][:, np.newaxis])
            tfr.add_labels(onehot(classes[order], 10), label_names=[str(d) for d in range(10)], label_kind="onehot")
        return
    num_images = 10000 if num_images is None else num_images
    if num_images < 1:
        raise UserError(f"--num_images {num_images}: must be at least 1")
    _write_stacked(tfrecord_dir, pad_28_to_32(digits), classes, num_images, random_seed, source, export)
