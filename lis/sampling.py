"""How LIS snapshots are sampled: the depth r (`--depth`) and R-separate's repair (`--r-encoder`).

A run records in every snapshot (`metadata['sampling']['lis']`) its mode, N and the default depth:

    {"mode": "g_lis", "modules": N, "space": "z", "depth": N}      G-LIS: depth r = the first r modules run
    {"mode": "r_iterative", "iterations": N, "depth": N}            R-iterative: depth r = r trips G -> R -> G

so `run_generator.py`, `run_metrics.py` and `run_projector.py` (through `LISSampling.prepare`) and the samplers of
this package all draw depth-r images the same way the training grids do. `--r-encoder` wraps the result in R-separate's
repair G(R(G(z))) (the original's sample_images.py: both G calls at the same depth).
"""

import os

from stylegan2.errors import UserError
from stylegan2.sampling import Sampling

from lis.networks import ChainedGenerator, Encoder


def lis_record(metadata):
    """The `lis` record of a snapshot's sampling metadata (UserError if it is not a LIS snapshot)."""
    record = (metadata.get("sampling") or {}).get("lis")
    if not record:
        raise UserError("this snapshot has no LIS record in its metadata; it was not trained with --method lis")
    return record


def max_depth(record):
    return int(record["modules"] if record["mode"] == "g_lis" else record["iterations"])


def check_depth(record, depth):
    top = max_depth(record)
    if not 0 <= depth <= top:
        what = "LIS modules" if record["mode"] == "g_lis" else "R-iterative iterations"
        raise UserError(f"--depth {depth}: this snapshot has {top} {what}; choose 0..{top}")
    return int(depth)


def at_depth(G, record, depth):
    """G (a LISGenerator) sampled at depth r without changing G: a G-LIS depth view or an R-iterative chain."""
    depth = check_depth(record, depth)
    if record["mode"] == "g_lis":
        return DepthView(G, depth)
    return ChainedGenerator(G, G.reverser, depth) if depth else G


class DepthView(ChainedGenerator):
    """G whose mapping runs the first `depth` LIS modules, leaving `G.mapping.depth` as it is."""

    def __init__(self, G, depth):
        super().__init__(G, None, 0)
        self.depth = depth

    def mapping(self, z, c=None):
        return self.G.mapping(z, c, depth=self.depth)


def load_encoder(path, G=None):
    """An R-separate encoder written by `python -m lis.train_r`, checked against G's sizes."""
    import keras

    if not os.path.isfile(path):
        raise UserError(f"--r-encoder {path}: file not found; train one with "
                        f"python -m lis.train_r --network <snapshot>")
    try:
        R = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for foreign or damaged files
        raise UserError(f"--r-encoder {path}: not a readable encoder ({type(err).__name__}: {err})") from None
    if not isinstance(R, Encoder):
        raise UserError(f"--r-encoder {path}: holds a {type(R).__name__}, not an encoder written by lis.train_r")
    if G is not None and (R.z_dim, R.img_resolution, R.img_channels) != (G.z_dim, G.img_resolution, G.img_channels):
        raise UserError(f"--r-encoder {path}: maps {R.img_resolution}x{R.img_resolution}x{R.img_channels} images to "
                        f"{R.z_dim}-d latents, but this network has z_dim {G.z_dim} and makes "
                        f"{G.img_resolution}x{G.img_resolution}x{G.img_channels} images; use the encoder trained on it")
    return R


class LISSampling(Sampling):
    """Labels as recorded, and the generator at the requested depth (`--depth`, default: the snapshot's), repaired
    by an R-separate encoder when `--r-encoder` is given."""

    def __init__(self, c_dim, labels=None, probs=None, options=None, lis=None):
        super().__init__(c_dim, labels, probs, options)
        self.lis = dict(lis or {})

    @classmethod
    def from_metadata(cls, metadata, G, options=None):
        record = dict(metadata.get("sampling") or {})
        return cls(G.c_dim, record.get("labels"), record.get("probs"), options, lis_record(metadata))

    @property
    def depth(self):
        depth = self.options.get("depth")
        return check_depth(self.lis, self.lis["depth"] if depth is None else depth)

    def prepare(self, G):
        depth = self.depth
        if self.lis["mode"] == "g_lis":
            G.mapping.depth = depth  # the setting every sampler's G.mapping(z, c) uses
        elif depth:
            G = ChainedGenerator(G, G.reverser, depth)
        encoder = self.options.get("r_encoder")
        if encoder:
            G = ChainedGenerator(G, load_encoder(encoder, G), 1)
        return G


def codes_by_depth(G, record, z, c=None, batch=500):
    """[NumPy [n, d] per depth r = 0..N]: G-LIS: the chain's input (z, or w before LIS for --lis-space w) and its
    value after r modules; R-iterative: z_0 = z and z_r = R(G(z_{r-1})) (stored constant noise, no truncation)."""
    import numpy as np

    top = max_depth(record)
    parts = [[] for _ in range(top + 1)]
    for start in range(0, len(z), batch):
        zb = z[start:start + batch]
        cb = None if c is None else c[start:start + batch]
        if record["mode"] == "g_lis":
            _, base, codes = G.mapping.map_with_codes(zb, cb, top)
            values = [base] + codes
        else:
            values = [zb]
            for _ in range(top):
                values.append(G.reverser(G.synthesis(G.mapping(values[-1], cb), noise_mode="const")))
        for r, v in enumerate(values):
            parts[r].append(np.asarray(v, np.float32))
    return [np.concatenate(p) for p in parts]
