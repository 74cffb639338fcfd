"""IMLE latents: the fixed candidate pool, spherical interpolation, the perturbation and interpolation weights.

IG:training/misc.py L192-203 (NumPy normalize/slerp), IG:dnnlib/tflib/tfutil.py (tflib.normalize/slerp, the same
formula in TensorFlow), IG:training/training_loop.py L325 (pool) and L447 (perturbation), IG:training/loss.py
L36-42 (interpolation loss).

slerp(a, b, t), over the last axis:
    a, b <- a/|a|, b/|b|;  d = a.b;  p = t * arccos(d);  c = (b - d a) / |b - d a|
    slerp = normalize(a cos p + c sin p)
The output is unit-norm whatever the input norms (t = 0 gives a/|a|, t = 1 gives b/|b|). G's mapping network
pixel-normalises z first, so a unit-norm z generates the same image as any positive multiple of it.
Deviation (degenerate inputs only): d is clipped to [-1, 1] and c is 0 where b is parallel to a, where IG's code
returns NaN (arccos of 1 + rounding, or 0/0).
"""

import numpy as np

from stylegan2.errors import UserError
from stylegan2.slerp import slerp_tf  # noqa: F401  (IG tflib.slerp; re-exported for the method and projector)


def candidate_pool(data_size, num_samples_factor, latent_size=512, seed=0):
    """IG L325: `np.random.randn(data_size*num_samples_factor, 512).astype(float32)`, drawn once, never redrawn.

    Here from a seeded NumPy generator (float32 draws, no float64 temporary), so the pool is a pure function of
    (size, seed) and can be regenerated on resume instead of being checkpointed.
    """
    if int(data_size) < 1 or int(num_samples_factor) < 1:
        raise UserError(f"--data-size {data_size} / --num-samples-factor {num_samples_factor}: both must be positive")
    rng = np.random.default_rng(seed)
    return rng.standard_normal((int(data_size) * int(num_samples_factor), int(latent_size)), dtype=np.float32)


def normalize(v):
    """IG misc.normalize: v / |v| over the last axis (NumPy)."""
    return v / np.sqrt(np.sum(np.square(v), axis=-1, keepdims=True))


def _safe_normalize(v):
    n = np.sqrt(np.sum(np.square(v), axis=-1, keepdims=True))
    return np.where(n > 0, v / np.where(n > 0, n, 1), 0)


def slerp(a, b, t):
    """IG misc.slerp (NumPy): unit-norm spherical interpolation from a (t=0) to b (t=1); t broadcasts over the
    batch ([N,1] or a scalar). Keeps the inputs' float dtype."""
    a = normalize(a)
    b = normalize(b)
    d = np.clip(np.sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    p = t * np.arccos(d)
    c = _safe_normalize(b - d * a)
    return normalize(a * np.cos(p) + c * np.sin(p))


def perturb(z, factor, rng):
    """IG L447: `misc.slerp(z, randn_like(z), knn_perturb_factor)`: rotate each retrieved latent by the fraction
    `factor` of its angle toward fresh Gaussian noise; unit-norm output. rng: np.random.Generator or RandomState."""
    z = np.asarray(z)
    noise = rng.standard_normal(z.shape).astype(z.dtype)
    return slerp(z, noise, factor)


def perturb_tf(z, noise, factor):
    """`perturb` in TensorFlow with the noise given (e.g. ctx.draws.normal(...)), for use inside a step."""
    return slerp_tf(z, noise, factor)


def interpolation_weights(t):
    """IG:training/loss.py L41: the interp loss is lerp(L(x2), L(x1), t) = (1-t) L(x2) + t L(x1), where the
    interpolated latent is slerp(z2, z1, t) (L37) and the label lerp(l2, l1, t) (L38), t ~ U[0,1] per sample.
    Returns (weight of the x2 term, weight of the x1 term) = (1 - t, t)."""
    return 1.0 - t, t


def interpolate_labels(l2, l1, t):
    """IG L38: tflib.lerp(l2, l1, t) = l2 + (l1 - l2) t."""
    return l2 + (l1 - l2) * t


def interpolation_loss(dist_to_x2, dist_to_x1, t, rec_weight=2.5):
    """IG L41-42: lerp(LPIPS(G(z_t), x2), LPIPS(G(z_t), x1), t) * (NN_rec_lpips_weight * 0.4), per sample,
    i.e. ((1-t) LPIPS(G(z_t), x2) + t LPIPS(G(z_t), x1)) * 0.4 w; t is the per-sample factor squeezed to [N]."""
    return (dist_to_x2 + (dist_to_x1 - dist_to_x2) * t) * (rec_weight * 0.4)
