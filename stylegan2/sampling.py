"""How a trained generator is sampled outside training: its labels (and, for some methods, its latents).

A training run records in every snapshot's metadata how its method draws labels for fakes (`metadata['sampling']`),
so that `run_generator.py`, `run_metrics.py` and `run_projector.py` draw them the same way:

    {"labels": "none"}                          unconditional
    {"labels": "dataset"}                       a label row of a uniformly drawn dataset record (NVIDIA's)
    {"labels": "uniform"}                       a uniformly drawn class, one-hot (AC-GAN)
    {"labels": "empirical", "probs": [...]}     a class drawn from a recorded distribution (self-conditioned GAN)

A method can subclass `Sampling` (e.g. to choose a depth of latent modules in `prepare`) and return it from
`Method.sampling`; its own generation options (`Method.generation_flags`) arrive in `options`.
"""

import numpy as np

from stylegan2.errors import UserError

LABEL_KINDS = ("none", "dataset", "uniform", "empirical")


class Sampling:
    """Labels for a snapshot's generator, as recorded by its training run (see the module docstring)."""

    def __init__(self, c_dim, labels=None, probs=None, options=None):
        labels = labels or ("dataset" if c_dim else "none")
        if labels not in LABEL_KINDS:
            raise UserError(f"snapshot metadata: unknown label sampling {labels!r} (known: {', '.join(LABEL_KINDS)})")
        self.c_dim = int(c_dim)
        self.kind = labels
        self.probs = None
        if labels == "empirical":
            probs = np.asarray(probs, np.float64)
            if probs.shape != (self.c_dim,) or probs.min() < 0 or probs.sum() <= 0:
                raise UserError(f"snapshot metadata: the label distribution must have {self.c_dim} non-negative "
                                f"entries")
            self.probs = probs / probs.sum()
        self.options = dict(options or {})

    @classmethod
    def from_metadata(cls, metadata, G, options=None):
        record = dict(metadata.get("sampling") or {})
        return cls(G.c_dim, record.pop("labels", None), record.pop("probs", None), options)

    def prepare(self, G):
        """The generator to sample (a hook: e.g. a method's latent depth is set here); default G itself."""
        return G

    def latents(self, z):
        """z as the generator receives it (a hook: e.g. a method's temperature); default z itself. NumPy or tensor."""
        return z

    @property
    def random_by_default(self):
        """Whether generation draws classes when no --class is given (True for recorded class distributions;
        NVIDIA's conditional networks require --class)."""
        return self.kind in ("uniform", "empirical")

    def draw_classes(self, n, rnd):
        """n class indices from a RandomState: uniform, or the recorded distribution."""
        if self.probs is not None:
            return rnd.choice(self.c_dim, size=n, p=self.probs)
        return rnd.randint(self.c_dim, size=n)

    def one_hot(self, classes):
        return np.eye(self.c_dim, dtype=np.float32)[np.asarray(classes, np.int64)].reshape(-1, self.c_dim)

    def labels_for_keys(self, class_idx, keys):
        """c [len(keys), c_dim] float32 for generation (None when unconditional): `class_idx` an index, or 'random'
        (key k's class from RandomState([1, k]), so an image depends on its seed alone), or None (random when
        `random_by_default`, else an error asking for --class)."""
        if not self.c_dim:
            if class_idx is not None:
                raise UserError(f"--class {class_idx}: this network is unconditional (c_dim=0); drop --class")
            return None
        if class_idx is None:
            if not self.random_by_default:
                raise UserError(f"--class: this network is conditional on {self.c_dim} classes; pass "
                                f"--class=0..{self.c_dim - 1} or --class=random")
            class_idx = "random"
        if class_idx == "random":
            classes = [int(self.draw_classes(1, np.random.RandomState([1, key]))[0]) for key in keys]
        elif 0 <= class_idx < self.c_dim:
            classes = [class_idx] * len(keys)
        else:
            raise UserError(f"--class {class_idx}: out of range; this network has {self.c_dim} classes "
                            f"(0..{self.c_dim - 1})")
        return self.one_hot(classes)

    def labels_batch(self, n, rnd, dataset=None):
        """n label rows for metrics, from a RandomState: [n, 0] when unconditional."""
        if not self.c_dim:
            return np.zeros([n, 0], np.float32)
        if self.kind == "dataset" and dataset is not None:
            if dataset.label_dim != self.c_dim:
                raise UserError(f"{dataset.path}: labels of {dataset.label_dim} dimensions, but the network is "
                                f"conditional on {self.c_dim}; use the dataset it was trained on")
            return dataset.sample_labels(n, rnd).astype(np.float32)
        return self.one_hot(self.draw_classes(n, rnd))
