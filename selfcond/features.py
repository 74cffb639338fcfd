"""What the clusterers see of a StyleGAN2 run: D's features of real images, and the fixed cluster set.

Features are the Dense0 activations (`Discriminator.features`, the vector D's label head reads: the original's
"penultimate D activations", reference section 1.2), computed for each image on its own: the minibatch-std layer
runs with a group of 1 (its channel is then the constant sqrt(1e-8)). The original's D has no such layer (its
BatchNorm runs in eval mode), so its features are a function of the image alone; with StyleGAN2's group of 4 an
image's features would depend on its batch-mates, and a training image's cluster on how the batch was split over
devices. The frozen copy is the original's `copy.deepcopy(discriminator)`: a second Discriminator of the same
configuration whose weights are copied from the training D at each re-clustering.
"""

import os
import time

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.images import to_uint8
from stylegan2.training.snapshot import matching_weights

CLUSTER_SET_FILE = "cluster-set.npz"


def to_float_images(x):
    """uint8 images -> float32 in [-1,1] exactly as the input pipeline converts them; float images unchanged."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return x.astype(np.float32, copy=False)


def to_uint8_images(x):
    """The pipeline's float images back to the uint8 values they were decoded from."""
    u = to_uint8(x)
    if not np.array_equal(to_float_images(u), np.asarray(x, np.float32)):
        raise ValueError("images are not the input pipeline's conversion of uint8 pixels")
    return u


# The original's augmentation adds `1/128 * torch.rand(x.size())` to images already in [-1,1] (gan_training/inputs.py
# get_dataset, after Normalize((0.5,)*3, (0.5,)*3)): noise in [0, 1/128) in [-1,1] units, about one 8-bit step.
DEQUANTIZE_SCALE = np.float32(1.0 / 128.0)
TRAINING_STREAM, CLUSTER_SET_STREAM = 0, 1


def dequantization_noise(shape, seed, stream, position):
    """float32 U[0, 1/128) noise of `shape`: a pure function of (seed, stream, position), so a resumed run draws the
    noise an uninterrupted one would have (stream 0: the training batch starting at image `position` of the real
    stream; stream 1: row `position` of the cluster set)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, stream, int(position)])
    return rng.random(shape, dtype=np.float32) * DEQUANTIZE_SCALE


class DequantizedImages:
    """The cluster set as the original keeps it: each uint8 image in [-1,1] plus its own fixed dequantisation noise
    (drawn once for the run, like the original's stored float x_cluster). Sliced into float32 batches on demand, so
    the set stays uint8 in memory (a float copy of 50k 128-px images would be 9.8 GB)."""

    def __init__(self, images, seed):
        self.images, self.seed = images, seed

    def __len__(self):
        return len(self.images)

    @property
    def shape(self):
        return self.images.shape

    def __getitem__(self, rows):
        start, stop, step = rows.indices(len(self.images))
        noise = [dequantization_noise(self.images.shape[1:], self.seed, CLUSTER_SET_STREAM, i)
                 for i in range(start, stop, step)]
        return to_float_images(self.images[rows]) + np.stack(noise) if noise else to_float_images(self.images[rows])


def feature_function(D):
    """images [N,H,W,C] (NumPy, uint8 or float in [-1,1]) -> D's per-image Dense0 features [N,F] (NumPy)."""
    spec = tf.TensorSpec([None, D.img_resolution, D.img_resolution, D.img_channels], tf.float32)
    fn = tf.function(lambda x: D.features(x, mbstd_group_size=1), input_signature=[spec], autograph=False)
    return lambda x: fn(to_float_images(x)).numpy()


class DiscriminatorFeatures:
    """The feature source of selfcond.clustering over a training D and its frozen copy (see the module docstring).

    `seconds` accumulates the time spent computing features (the benchmark and the re-clustering log read it).
    """

    def __init__(self, live_D, frozen_D):
        self.live_D, self.frozen_D = live_D, frozen_D
        self._live, self._frozen = feature_function(live_D), feature_function(frozen_D)
        self._pairs = matching_weights(frozen_D, live_D)
        self.seconds = 0.0

    def snapshot(self):
        for dst, src, _ in self._pairs:
            dst.assign(src)

    def _timed(self, fn, x):
        start = time.time()
        out = fn(x)
        self.seconds += time.time() - start
        return out

    def frozen(self, x):
        return self._timed(self._frozen, x)

    def live(self, x):
        return self._timed(self._live, x)


# === The fixed cluster set ===


def build_cluster_set(dataset, num_images, seed, mirror):
    """The first `num_images` images of one shuffled pass over the dataset (at most all of them), augmented as D's
    reals are (mirror flips): the original's first `nimgs` images of a train_loader pass. Returns (uint8 images
    [N,H,W,C], record indices [N])."""
    images, indices, have = [], [], 0
    for batch_images, _, batch_indices in dataset.iterate_numpy(batch_size=512, shuffle=True, seed=seed,
                                                                mirror=mirror):
        take = min(len(batch_images), num_images - have)
        images.append(to_uint8_images(batch_images[:take]))
        indices.append(batch_indices[:take])
        have += take
        if have >= num_images:
            break
    return np.concatenate(images), np.concatenate(indices).astype(np.int64)


def save_cluster_set(path, images, indices):
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, images=images, indices=indices)
    os.replace(tmp, path)


def load_cluster_set(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["images"], data["indices"]
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"{path}: unreadable cluster set ({type(err).__name__}: {err}); restore it from a backup of "
                        f"the run, or start a new run") from None


def cluster_set(run_dir, dataset, num_images, seed, mirror):
    """The run's cluster set: read from <run_dir>/cluster-set.npz, or built and saved there (on a fresh run)."""
    path = os.path.join(run_dir, CLUSTER_SET_FILE)
    if os.path.isfile(path):
        images, indices = load_cluster_set(path)
        if len(images) != min(num_images, dataset.num_images) or images.shape[1:] != tuple(dataset.shape):
            raise UserError(f"{path}: {len(images)} images of shape {images.shape[1:]}, but the run needs "
                            f"{min(num_images, dataset.num_images)} of {tuple(dataset.shape)}; remove the file to "
                            f"rebuild it")
        return images, indices
    images, indices = build_cluster_set(dataset, num_images, seed, mirror)
    save_cluster_set(path, images, indices)
    return images, indices
