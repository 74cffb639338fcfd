"""Features for the IMLE nearest-neighbour search: flattened images, optionally randomly projected.

IG:training/training_loop.py L28-35 (`func_proj_dim`), L204-212 (the projector), L362-365 and L378-381 (features
of candidates and reals): the feature of an image is its flattened NCHW array in [-1,1], or that times a Gaussian
matrix P [C*H*W, proj_dim] with entries N(0, std = 1/proj_dim) (std 1/d, not 1/sqrt(d): the scale does not change
nearest neighbours), float64, cached as `random_projector_mat_{CHW}to{proj_dim}.npy`.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError

JL_EPS = 0.1


def proj_dim_for(init_proj_dim, num_candidates, feature_dim):
    """IG L28-35: None -> no projection (feature_dim); 0 -> sklearn's Johnson-Lindenstrauss bound for
    `num_candidates` (= data_size * num_samples_factor) points at eps 0.1; k > 0 -> k."""
    if init_proj_dim is None:
        return int(feature_dim)
    if int(init_proj_dim) < 0:
        raise UserError(f"--init-proj-dim {init_proj_dim}: must be 0 (Johnson-Lindenstrauss bound), a positive "
                        f"dimension, or omitted (no projection)")
    if int(init_proj_dim) == 0:
        from sklearn.random_projection import johnson_lindenstrauss_min_dim
        return int(johnson_lindenstrauss_min_dim(n_samples=int(num_candidates), eps=JL_EPS))
    return int(init_proj_dim)


def projector_filename(feature_dim, proj_dim):
    return f"random_projector_mat_{int(feature_dim)}to{int(proj_dim)}.npy"


def random_projector(feature_dim, proj_dim, seed=0):
    """IG L211: `np.random.normal(loc=0.0, scale=1.0/proj_dim, size=(feature_dim, proj_dim))` as float64, drawn
    from `np.random.RandomState(seed)` (IG draws from the unseeded global state)."""
    rnd = np.random.RandomState(seed)
    return rnd.normal(loc=0.0, scale=1.0 / float(proj_dim), size=(int(feature_dim), int(proj_dim))).astype(np.float64)


def load_or_create_projector(feature_dim, proj_dim, seed=0, cache_dir=None):
    """IG L205-212: reuse `cache_dir/random_projector_mat_{D}to{d}.npy` if present, else draw and save it
    (atomically). cache_dir None: no cache."""
    if cache_dir is None:
        return random_projector(feature_dim, proj_dim, seed)
    path = os.path.join(cache_dir, projector_filename(feature_dim, proj_dim))
    if os.path.isfile(path):
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: unreadable random projector ({err}); delete it to draw a new one") from None
        if matrix.shape != (feature_dim, proj_dim):
            raise UserError(f"{path}: holds a {matrix.shape} matrix, expected ({feature_dim}, {proj_dim}); delete it "
                            f"to draw a new one")
        return matrix.astype(np.float64, copy=False)
    matrix = random_projector(feature_dim, proj_dim, seed)
    os.makedirs(cache_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, matrix)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return matrix


def flatten_nchw(images):
    """[N,H,W,C] images -> [N, C*H*W] in IG's NCHW flattening order (so a projector's rows line up with IG's)."""
    images = tf.convert_to_tensor(images)
    return tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [tf.shape(images)[0], -1])


def image_features(images, projector=None, dtype=tf.float32):
    """Features of NHWC images in [-1,1] for the search: flattened NCHW, times `projector` if given.

    Computed in `dtype` (IG: float64 in NumPy; pass dtype=tf.float64 for IG's arithmetic). Pass the projector
    as a tensor of `dtype` (e.g. made once with tf.constant) to avoid converting it on every call.
    """
    x = tf.cast(flatten_nchw(images), dtype)
    if projector is None:
        return x
    return tf.matmul(x, tf.cast(tf.convert_to_tensor(projector), dtype))
