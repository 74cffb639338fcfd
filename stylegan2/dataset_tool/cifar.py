"""CIFAR-10, CIFAR-100 (python pickle tarball or folder) and SVHN (.mat files or NVIDIA's pickles).

The CIFAR files are pickles. They are read with an unpickler that only builds NumPy arrays, lists and dicts:
a dataset file can never run code.
"""

import io
import os
import pickle
import tarfile

import numpy as np

from stylegan2.dataset_tool import tfds_source
from stylegan2.dataset_tool.common import ExportOptions, onehot, shuffled_order
from stylegan2.errors import UserError

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are expected")


def safe_unpickle(data, path):
    try:
        return _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise UserError(f"{path}: not a readable dataset pickle ({err}); download the python version again") from None


class _Archive:
    """Members of a CIFAR distribution: the .tar.gz itself, its extracted folder, or the folder above it."""

    def __init__(self, source, inner_dir, hint):
        self.source, self.hint = source, hint
        if source and os.path.isfile(source):
            try:
                self.tar = tarfile.open(source)
            except (tarfile.TarError, OSError) as err:
                raise UserError(f"{source}: not a readable tar archive ({err}); {hint}") from None
            self.dir = None
        elif source and os.path.isdir(source):
            self.tar = None
            nested = os.path.join(source, inner_dir)
            self.dir = nested if os.path.isdir(nested) else source
        else:
            raise UserError(f"{source}: not found; {hint}")

    def read(self, name):
        if self.tar is not None:
            for member in self.tar.getmembers():
                if member.isfile() and os.path.basename(member.name) == name:
                    return safe_unpickle(self.tar.extractfile(member).read(), f"{self.source}:{member.name}")
            raise UserError(f"{self.source}: archive has no '{name}'; {self.hint}")
        path = os.path.join(self.dir, name)
        if not os.path.isfile(path):
            raise UserError(f"{path}: file not found; {self.hint}")
        with open(path, "rb") as f:
            return safe_unpickle(f.read(), path)


def _check(images, labels, num_classes, where):
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32) or images.dtype != np.uint8:
        raise UserError(f"{where}: images of shape {list(images.shape)} ({images.dtype}), expected [N,3,32,32] uint8")
    if len(labels) != len(images) or (len(labels) and (labels.min() < 0 or labels.max() >= num_classes)):
        raise UserError(f"{where}: labels do not match the images (expected {len(images)} labels in 0..{num_classes - 1})")


def _write_classified(tfrecord_dir, images_chw, labels, num_classes, names, source, export):
    """NV's CIFAR/SVHN layout: shuffled with seed 123, one-hot labels."""
    order = shuffled_order(len(images_chw))
    with export.exporter(tfrecord_dir, len(images_chw), source) as tfr:
        tfr.add_images(images_chw[order])
        tfr.add_labels(onehot(labels[order], num_classes), label_names=names, label_kind="onehot")


def _from_tfds(name, split, data_dir):
    images, labels = tfds_source.load_arrays(name, split, data_dir)
    return images.transpose(0, 3, 1, 2), labels, tfds_source.class_names(name, data_dir)


def create_cifar10(tfrecord_dir, cifar10_dir, split="train", tfds=False, tfds_data_dir=None, export=ExportOptions()):
    """CIFAR-10 (NV create_cifar10): data_batch_1..5 (or test_batch), shuffled, 10-class one-hot labels."""
    export.check(tfrecord_dir)
    if tfds:
        images, labels, names = _from_tfds("cifar10", split, tfds_data_dir)
    else:
        if split not in ("train", "test"):
            raise UserError(f"--split {split}: CIFAR-10 has 'train' and 'test'")
        archive = _Archive(cifar10_dir, "cifar-10-batches-py",
                           "pass cifar-10-python.tar.gz or its extracted cifar-10-batches-py folder")
        batches = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        data = [archive.read(b) for b in batches]
        images = np.concatenate([d["data"] for d in data]).reshape(-1, 3, 32, 32)
        labels = np.concatenate([np.asarray(d["labels"], np.int64) for d in data])
        names = list(archive.read("batches.meta")["label_names"])
    _check(images, labels, 10, cifar10_dir or "tfds:cifar10")
    source = {"kind": "cifar10", "dir": cifar10_dir, "split": split, "tfds": bool(tfds)}
    _write_classified(tfrecord_dir, images, labels, 10, names, source, export)


def create_cifar100(tfrecord_dir, cifar100_dir, split="train", tfds=False, tfds_data_dir=None, export=ExportOptions()):
    """CIFAR-100 (NV create_cifar100): the 'train' (or 'test') file, shuffled, 100 fine classes one-hot."""
    export.check(tfrecord_dir)
    if tfds:
        images, labels, names = _from_tfds("cifar100", split, tfds_data_dir)
    else:
        if split not in ("train", "test"):
            raise UserError(f"--split {split}: CIFAR-100 has 'train' and 'test'")
        archive = _Archive(cifar100_dir, "cifar-100-python",
                           "pass cifar-100-python.tar.gz or its extracted cifar-100-python folder")
        data = archive.read(split)
        images = np.asarray(data["data"]).reshape(-1, 3, 32, 32)
        labels = np.asarray(data["fine_labels"], np.int64)
        names = list(archive.read("meta")["fine_label_names"])
    _check(images, labels, 100, cifar100_dir or "tfds:cifar100")
    source = {"kind": "cifar100", "dir": cifar100_dir, "split": split, "tfds": bool(tfds)}
    _write_classified(tfrecord_dir, images, labels, 100, names, source, export)


def _load_svhn(svhn_dir, split):
    mat = os.path.join(svhn_dir, f"{split}_32x32.mat")
    if os.path.isfile(mat):
        import scipy.io

        try:
            data = scipy.io.loadmat(mat)
        except (ValueError, OSError, TypeError) as err:
            raise UserError(f"{mat}: not a readable .mat file ({err}); download it again") from None
        images = np.ascontiguousarray(data["X"].transpose(3, 2, 0, 1))  # [32,32,3,N] -> [N,3,32,32]
        labels = data["y"].reshape(-1).astype(np.int64) % 10  # the .mat files label digit 0 as 10
        return images, labels
    pickles = [os.path.join(svhn_dir, f"{split}_{i}.pkl") for i in range(1, 4)]
    if split == "train" and all(os.path.isfile(p) for p in pickles):  # NV create_svhn's preprocessed pickles
        parts = []
        for p in pickles:
            with open(p, "rb") as f:
                parts.append(safe_unpickle(f.read(), p))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]).astype(np.int64)
    raise UserError(f"{mat}: SVHN file not found; put {split}_32x32.mat (or NVIDIA's train_1..3.pkl) in {svhn_dir}, "
                    f"or use --tfds")


def create_svhn(tfrecord_dir, svhn_dir, split="train", tfds=False, tfds_data_dir=None, export=ExportOptions()):
    """SVHN cropped digits (NV create_svhn): shuffled, 10-class one-hot labels."""
    export.check(tfrecord_dir)
    if tfds:
        images, labels, _ = _from_tfds("svhn_cropped", split, tfds_data_dir)
    else:
        if svhn_dir is None or not os.path.isdir(svhn_dir):
            raise UserError(f"{svhn_dir}: SVHN directory not found; pass the folder holding train_32x32.mat, or --tfds")
        images, labels = _load_svhn(svhn_dir, split)
    _check(images, labels, 10, svhn_dir or "tfds:svhn_cropped")
    source = {"kind": "svhn", "dir": svhn_dir, "split": split, "tfds": bool(tfds)}
    _write_classified(tfrecord_dir, images, labels, 10, [str(d) for d in range(10)], source, export)
