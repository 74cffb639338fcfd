"""2D metrics (2d_mix/evaluation.py percent_good_pts), vectorised.

high quality: a sample within 3 sigma of some mode in *both* coordinates (|x - mu| < 3 sigma per coordinate, an
              L-infinity box; the original's docstring says l1); % HQ = HQ samples / N.
modes:        number of modes with at least one HQ sample (a sample counts for the first mode, in mode order,
              whose box holds it, as the original's loop with `break`).
reverse KL:   every sample goes to its nearest mode (Euclidean, first on ties), p = counts / N,
              KL = sum_{p_m > 0} p_m ln(K p_m) = KL(p_gen || uniform), natural log.
"""

import numpy as np


def percent_good(samples, means, sigma):
    """(fraction high quality, modes covered, reverse KL) of samples [N, 2] against mode centres [K, 2]."""
    samples = np.asarray(samples, np.float64)
    means = np.asarray(means, np.float64)
    diff = np.abs(samples[:, None, :] - means[None, :, :])  # [N, K, 2]
    in_box = np.all(diff < 3.0 * sigma, axis=2)  # [N, K]
    good = in_box.any(axis=1)
    first_box = np.argmax(in_box, axis=1)
    modes = len(np.unique(first_box[good]))
    nearest = np.argmin((diff**2).sum(axis=2), axis=1)
    p = np.bincount(nearest, minlength=len(means)) / len(samples)
    p = p[p > 0]
    kl = float(np.sum(p * np.log(len(means) * p)))
    return float(good.mean()), int(modes), kl
