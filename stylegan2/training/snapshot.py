"""Network snapshots: G, D and G_ema in one `.keras` file (NVIDIA's network-snapshot-<kimg>.pkl, without pickle).

    snap = load_snapshot("results/00000-.../network-snapshot-000120.keras")   # never runs code from the file
    images = snap.G_ema(z, c)

A snapshot is a `NetworkSnapshot` Keras model holding the three networks, a method's extras (Method.snapshot_extras)
and JSON metadata: kimg, step, method and its options, config, dataset, and how generation samples labels and
latents (`sampling`, see stylegan2.sampling). Loading first reads the metadata and asks the method registry for the
snapshot's method, so a snapshot of a method whose package is not installed gets one line naming it. Files are
written to a temporary name and renamed, so a killed run never leaves half a file.
"""

import json
import os
import re
import zipfile

import keras
import numpy as np

from stylegan2 import faults
from stylegan2 import networks  # noqa: F401  (registers the network classes a snapshot holds)
from stylegan2.errors import UserError
from stylegan2.training.method import get_method

SNAPSHOT_PATTERN = re.compile(r"network-snapshot-(\d+(?:\.\d+)?)\.(?:keras|pkl)")  # .pkl: NVIDIA's run directories


@keras.saving.register_keras_serializable(package="stylegan2")
class NetworkSnapshot(keras.Model):
    """A container of G, D and G_ema; calling it runs G_ema."""

    def __init__(self, G, D, G_ema, metadata=None, extras=None, **kwargs):
        super().__init__(**kwargs)
        self.G = G
        self.D = D
        self.G_ema = G_ema
        self.metadata = dict(metadata or {})
        self.extras = dict(extras or {})  # a method's own Keras objects (Method.snapshot_extras)

    def build(self, input_shape=None):
        for model in (self.G, self.D, self.G_ema, *self.extras.values()):
            if not model.built:
                model.build()
        self.built = True

    def call(self, z, c=None, **kwargs):
        return self.G_ema(z, c, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(G=keras.saving.serialize_keras_object(self.G), D=keras.saving.serialize_keras_object(self.D),
                      G_ema=keras.saving.serialize_keras_object(self.G_ema), metadata=self.metadata,
                      extras={k: keras.saving.serialize_keras_object(v) for k, v in self.extras.items()})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        nets = {k: keras.saving.deserialize_keras_object(config.pop(k)) for k in ("G", "D", "G_ema")}
        extras = {k: keras.saving.deserialize_keras_object(v) for k, v in (config.pop("extras", None) or {}).items()}
        return cls(**nets, extras=extras, **config)


@keras.saving.register_keras_serializable(package="stylegan2")
class ArrayStore(keras.layers.Layer):
    """Named arrays kept in a snapshot as non-trainable weights (e.g. cluster centroids): `ArrayStore({"c": a})`,
    then `store.arrays()` -> {"c": a} after loading."""

    def __init__(self, arrays=None, specs=None, **kwargs):
        super().__init__(**kwargs)
        arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
        self.specs = specs or {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}
        self._initial = arrays
        self._weights_by_name = {}

    def build(self, input_shape=None):
        for name, (shape, dtype) in sorted(self.specs.items()):
            self._weights_by_name[name] = self.add_weight(name=name, shape=tuple(shape), dtype=dtype,
                                                          initializer="zeros", trainable=False)
            if name in self._initial:
                self._weights_by_name[name].assign(self._initial[name])
        self.built = True

    def arrays(self):
        return {name: np.asarray(w) for name, w in self._weights_by_name.items()}

    def get_config(self):
        return {**super().get_config(), "specs": self.specs}


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
        faults.point("snapshot")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_snapshot(path, G, D, G_ema, metadata, extras=None):
    """Writes G, D, G_ema (and a method's extras) as one .keras file, atomically; returns the NetworkSnapshot."""
    snap = NetworkSnapshot(G, D, G_ema, metadata=metadata, extras=extras, name="network_snapshot")
    snap.build()
    save_keras_atomic(snap, path)
    return snap


def list_snapshots(run_dir):
    """The network snapshots of a run directory, by kimg (temporary files of interrupted writes are not snapshots)."""
    found = [(float(m.group(1)), os.path.join(run_dir, name)) for name in os.listdir(run_dir)
             if (m := SNAPSHOT_PATTERN.fullmatch(name))]
    return [path for _, path in sorted(found)]


def latest_snapshot(run_dir):
    """The network snapshot with the highest kimg in a run directory, or None."""
    found = list_snapshots(run_dir)
    return found[-1] if found else None


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
    method = read_metadata(path).get("method")
    if method:
        get_method(method, snapshot=path)  # its package registers its network classes
    try:
        snap = keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many types for foreign or damaged files, often with multi-line dumps
        detail = next((line.strip() for line in str(err).splitlines() if line.strip()), "")[:200]
        raise UserError(f"{path}: not a readable network snapshot ({type(err).__name__}: {detail}); it may be damaged "
                        f"or from another program: use another snapshot of the run") from None
    if not isinstance(snap, NetworkSnapshot):
        raise UserError(f"{path}: holds a {type(snap).__name__}, not a network snapshot written by run_training.py")
    return snap


def open_for_sampling(path, options=None, precision="fp32", fp16_res=4):
    """(snapshot, G, sampling): a snapshot file or run directory, its G_ema prepared and its stylegan2.sampling.Sampling
    built by the snapshot's method (Method.sampling) from its metadata and `options`, the method generation flags
    given on the command line ({name: value}); a flag that belongs to another method's snapshots gets one line.
    `precision` ('fp32', 'bf16', 'fp16') and `fp16_res`: how its networks compute (stylegan2.precision)."""
    from stylegan2.flags import with_defaults
    from stylegan2.precision import apply_precision
    from stylegan2.training.method import method_classes

    snap = load_snapshot(path)
    if precision != "fp32":
        apply_precision(snap, precision, fp16_res)
    method = get_method(snap.metadata.get("method") or "stylegan2", snapshot=path)
    options = dict(options or {})
    own = {f.name for f in method.generation_flags}
    for name in options:
        if name not in own:
            owner, flag = next((cls.name, f) for cls in method_classes() for f in cls.generation_flags if f.name == name)
            raise UserError(f"{flag.option}: an option of --method {owner} snapshots; {path} is a --method "
                            f"{method.name} snapshot")
    sampling = method.sampling(snap, with_defaults(method.generation_flags, options))
    G = sampling.prepare(snap.G_ema)
    if precision != "fp32":
        apply_precision(G, precision, fp16_res)  # a method's prepared G may hold networks of its own
    return snap, G, sampling


def read_metadata(path):
    """A .keras snapshot's metadata, read from its config.json without building any network ({} if it has none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable network snapshot ({type(err).__name__}: {err})") from None
    metadata = (config.get("config") or {}).get("metadata") if isinstance(config, dict) else None
    return metadata if isinstance(metadata, dict) else {}


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
