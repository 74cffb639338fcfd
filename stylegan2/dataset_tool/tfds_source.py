"""TensorFlow Datasets as a source for dataset_tool (`--tfds`, `--tfds_data_dir`).

Prepared TFDS data is read offline from `--tfds_data_dir`; if it is not there and the machine is online, TFDS
downloads and prepares it once. Offline with nothing prepared, the user gets one line saying what to do, instead of
TFDS's minutes of retries.
"""

import concurrent.futures
import socket

import numpy as np

from stylegan2.errors import UserError

_DOWNLOAD_HOST = "storage.googleapis.com"


def _online(timeout=3.0):
    """Whether TFDS's download host resolves (a name lookup, bounded in time)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(socket.getaddrinfo, _DOWNLOAD_HOST, 443)
        try:
            future.result(timeout=timeout)
            return True
        except (OSError, concurrent.futures.TimeoutError):
            return False


def builder(name, data_dir=None):
    """A prepared TFDS builder for `name`, downloading it only when it is missing and the network is there."""
    import tensorflow_datasets as tfds

    b = tfds.builder(name, data_dir=data_dir)
    if not b.is_prepared():
        where = data_dir or "~/tensorflow_datasets"
        if not _online():
            raise UserError(f"{where}: TFDS dataset '{name}' is not prepared there and there is no network; "
                            f"run `tfds build {name} --data_dir=DIR` on a connected machine, copy DIR here and "
                            f"pass --tfds_data_dir=DIR")
        b.download_and_prepare()
    return b


def _split(b, name, split):
    known = set(b.info.splits)  # empty under tfds.testing.mock_data; 'train[:1000]' style slices are fine
    if known and split.split("[")[0] not in known:
        raise UserError(f"--split {split}: TFDS '{name}' has splits {', '.join(sorted(b.info.splits))}")
    return b.as_dataset(split=split, shuffle_files=False)


def iterate(name, split, data_dir=None):
    """The examples of a TFDS split, as NumPy dicts, in TFDS's deterministic order."""
    import tensorflow_datasets as tfds

    b = builder(name, data_dir)
    return tfds.as_numpy(_split(b, name, split))


def load_arrays(name, split, data_dir=None, image_key="image", label_key="label"):
    """All images uint8 [N,H,W,C] and labels int64 [N] of a small TFDS split."""
    images, labels = [], []
    for example in iterate(name, split, data_dir):
        images.append(example[image_key])
        labels.append(example[label_key])
    if not images:
        raise UserError(f"TFDS '{name}' split '{split}' is empty")
    return np.stack(images), np.asarray(labels, np.int64)


def class_names(name, data_dir=None, label_key="label"):
    """Class names of a TFDS ClassLabel feature (e.g. CIFAR-10's 'airplane', ...)."""
    import tensorflow_datasets as tfds

    return list(tfds.builder(name, data_dir=data_dir).info.features[label_key].names)
