"""Network snapshots: G, D and G_ema in one `.keras` file (NVIDIA's network-snapshot-<kimg>.pkl, without pickle).

    snap = load_snapshot("results/00000-.../network-snapshot-000120.keras")   # never runs code from the file
    images = snap.G_ema(z, c)

A snapshot is a `NetworkSnapshot` Keras model holding the three networks plus JSON metadata (kimg, method,
config, dataset). Files are written to a temporary name and renamed, so a killed run never leaves half a file.
"""

import glob
import os
import re

import keras

from stylegan2 import networks  # noqa: F401  (registers the network classes a snapshot holds)
from stylegan2.errors import UserError

SNAPSHOT_PATTERN = re.compile(r"network-snapshot-(\d+(?:\.\d+)?)\.keras$")


@keras.saving.register_keras_serializable(package="stylegan2")
class NetworkSnapshot(keras.Model):
    """A container of G, D and G_ema; calling it runs G_ema."""

    def __init__(self, G, D, G_ema, metadata=None, **kwargs):
        super().__init__(**kwargs)
        self.G = G
        self.D = D
        self.G_ema = G_ema
        self.metadata = dict(metadata or {})

    def build(self, input_shape=None):
        for model in (self.G, self.D, self.G_ema):
            if not model.built:
                model.build()
        self.built = True

    def call(self, z, c=None, **kwargs):
        return self.G_ema(z, c, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(G=keras.saving.serialize_keras_object(self.G), D=keras.saving.serialize_keras_object(self.D),
                      G_ema=keras.saving.serialize_keras_object(self.G_ema), metadata=self.metadata)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        nets = {k: keras.saving.deserialize_keras_object(config.pop(k)) for k in ("G", "D", "G_ema")}
        return cls(**nets, **config)


def clone_model(model):
    """A new, built model with the same config and weight paths (G_ema = G's architecture)."""
    clone = model.__class__.from_config(model.get_config())
    clone.build()
    return clone


def matching_weights(dst, src):
    """(dst weight, src weight, trainable) pairs of two models of one config, checked by path."""
    pairs = []
    for kind, trainable in (("trainable_weights", True), ("non_trainable_weights", False)):
        d, s = getattr(dst, kind), getattr(src, kind)
        if [w.path.split("/", 1)[-1] for w in d] != [w.path.split("/", 1)[-1] for w in s]:
            raise ValueError(f"{dst.name} and {src.name} have different {kind}")
        pairs += [(a, b, trainable) for a, b in zip(d, s)]
    return pairs


def save_keras_atomic(model, path):
    """model.save(path) under a temporary name in the same folder, then a rename: nothing half-written survives."""
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_snapshot(path, G, D, G_ema, metadata):
    """Writes G, D, G_ema as one .keras file, atomically."""
    snap = NetworkSnapshot(G, D, G_ema, metadata=metadata, name="network_snapshot")
    snap.build()
    save_keras_atomic(snap, path)


def latest_snapshot(run_dir):
    """The network snapshot with the highest kimg in a run directory, or None."""
    found = [(float(m.group(1)), p) for p in glob.glob(os.path.join(run_dir, "network-snapshot-*.keras"))
             if (m := SNAPSHOT_PATTERN.search(p))]
    return max(found)[1] if found else None


def load_snapshot(path):
    """Loads a NetworkSnapshot from a .keras file, a run directory (its latest snapshot), or an NVIDIA StyleGAN2 /
    InclusiveGAN / StyleGAN2-ADA .pkl (imported by stylegan2.importers without running code from the file)."""
    if os.path.isdir(path):
        found = latest_snapshot(path)
        if found is None:
            raise UserError(f"{path}: no network-snapshot-*.keras in this run directory")
        path = found
    if not os.path.isfile(path):
        raise UserError(f"{path}: network snapshot not found; pass a network-snapshot-*.keras file, a run directory "
                        f"or a network .pkl")
    from stylegan2.importers import import_network_pickle, is_network_pickle  # importers import this module

    if is_network_pickle(path):
        return import_network_pickle(path)
    try:
        snap = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many types for foreign or damaged files
        raise UserError(f"{path}: not a readable network snapshot ({type(err).__name__}: {err})") from None
    if not isinstance(snap, NetworkSnapshot):
        raise UserError(f"{path}: holds a {type(snap).__name__}, not a network snapshot written by run_training.py")
    return snap


def load_weights_into(path, G, D, G_ema):
    """Copies a snapshot's weights into existing networks of the same configuration; returns its metadata."""
    snap = load_snapshot(path)
    for dst, src in ((G, snap.G), (D, snap.D), (G_ema, snap.G_ema)):
        try:
            pairs = matching_weights(dst, src)
        except ValueError:
            config = snap.metadata.get("config")
            hint = f"--config={config}" if config else "the same --config"
            raise UserError(f"{path}: its networks do not match this run's configuration; resume with {hint} and "
                            f"a dataset of the same resolution and labels") from None
        for a, b, _ in pairs:
            if tuple(a.shape) != tuple(b.shape):
                raise UserError(f"{path}: weight {a.path} has shape {tuple(b.shape)}, this run needs "
                                f"{tuple(a.shape)}; resume with the same --config and dataset")
            a.assign(b)
    return snap.metadata
