"""Ring and grid mixtures of Gaussians (2d_mix/inputs.py), drawn from an explicit NumPy Generator.

ring: 8 modes at (r sin t_m, r cos t_m), t_m = 2 pi m / 8, r = 2 (mode 0 at (0, 2)); variance 1e-4 (sigma 0.01).
      Per-mode counts are multinomial with equal probabilities, the labels shuffled (the original's construction).
grid: 25 modes at (2i - 4, 2j - 4), i, j in 0..4; each point draws its mode uniformly; label 5i + j;
      variance 0.0025 (sigma 0.05).
"""

import numpy as np

DATA_TYPES = ("ring", "grid")
DEFAULT_VARIANCE = {"ring": 1e-4, "grid": 0.0025}
NUM_MODES = {"ring": 8, "grid": 25}


def ring_means(radius=2.0, n_clusters=8):
    """[8, 2] mode centres, in label order (the original's linspace(0, 2 pi, n + 1)[:n])."""
    thetas = np.linspace(0, 2 * np.pi, n_clusters + 1)[:n_clusters]
    return np.stack([radius * np.sin(thetas), radius * np.cos(thetas)], axis=1)


def grid_means(nrows=5, ncols=5):
    """[25, 2] mode centres, row 5i + j = (2i - 4, 2j - 4)."""
    return np.array([[2 * i - 4, 2 * j - 4] for i in range(ncols) for j in range(nrows)], np.float64)


def mode_means(data_type):
    return ring_means() if data_type == "ring" else grid_means()


def sample_ring(n, rng, var=1e-4, radius=2.0, n_clusters=8):
    """(points [n, 2] float64, labels [n] int64)."""
    counts = rng.multinomial(n, [1.0 / n_clusters] * n_clusters)
    labels = rng.permutation(np.repeat(np.arange(n_clusters), counts))
    points = ring_means(radius, n_clusters)[labels] + np.sqrt(var) * rng.standard_normal((n, 2))
    return points, labels.astype(np.int64)


def sample_grid(n, rng, var=0.0025, nrows=5, ncols=5):
    """(points [n, 2] float64, labels [n] int64); label 5i + j for the mode at (2i - 4, 2j - 4)."""
    i = rng.integers(0, ncols, size=n)
    j = rng.integers(0, nrows, size=n)
    labels = 5 * i + j
    points = np.stack([2 * i - 4, 2 * j - 4], axis=1) + np.sqrt(var) * rng.standard_normal((n, 2))
    return points, labels.astype(np.int64)


def sample(data_type, n, rng, var=None):
    var = DEFAULT_VARIANCE[data_type] if var is None else var
    return (sample_ring if data_type == "ring" else sample_grid)(n, rng, var=var)
