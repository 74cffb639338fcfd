"""Importing the originals' pretrained networks: NVIDIA StyleGAN2 (TF1) and InclusiveGAN pickles, and StyleGAN2-ADA
(PyTorch) pickles, read without running any code from them (see unpickler.py and LAYOUT.md).

    snap = import_network_pickle("stylegan2-ffhq-config-f.pkl")   # a NetworkSnapshot: G, D, G_ema, metadata
    images = snap.G_ema(z, truncation_psi=0.5)

`stylegan2.training.snapshot.load_snapshot` dispatches `.pkl` paths here, so every command that takes a network
(`run_generator.py`, `run_metrics.py`, `run_projector.py`, `run_training.py --resume`) accepts them;
`python convert_network.py in.pkl out.keras` writes the `.keras` snapshot once.
"""

import hashlib
import os
import re

from stylegan2.errors import UserError
from stylegan2.importers.unpickler import ADAModule, RefusedPickle, TF1Network, load_network_pickle

# Keras (and so TensorFlow) is imported inside import_network_pickle: `convert_network.py -h` answers at once.

PICKLE_SUFFIXES = (".pkl", ".pickle")


def is_network_pickle(path):
    """Whether `path` names a pickle (by its suffix), which load_snapshot imports instead of loading as `.keras`."""
    return os.fspath(path).lower().endswith(PICKLE_SUFFIXES)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_network_pickle(path):
    """The data of a network pickle (TF1Network tuple or ADA dict), or UserError: refused (naming the global) or
    unreadable. Nothing from the file is run."""
    try:
        with open(path, "rb") as f:
            return load_network_pickle(f)
    except RefusedPickle as err:
        raise UserError(f"{path}: refused, nothing from it was run: {err}") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    except Exception as err:  # noqa: BLE001 - pickle, NumPy and our reconstructors raise many types for damaged data
        detail = str(err).splitlines()[0] if str(err) else ""
        raise UserError(f"{path}: not a readable network pickle ({type(err).__name__}{': ' + detail if detail else ''})"
                        ) from None


def import_network_pickle(path):
    """G, D and G_ema of an NVIDIA StyleGAN2 TF1 / InclusiveGAN / StyleGAN2-ADA PyTorch pickle, as a built
    NetworkSnapshot of this project's networks. metadata: method ('stylegan2': InclusiveGAN's networks are StyleGAN2's,
    the source format says which), config (the preset with the same weights, or None) and source (file, sha256, format,
    the original build functions or classes, and kwargs of the original that this project does not store).
    Raises UserError with one line for a missing, refused, unreadable or unmappable file."""
    from stylegan2.importers.ada import import_ada
    from stylegan2.importers.common import Unmappable, matching_preset
    from stylegan2.importers.tf1 import import_tf1
    from stylegan2.training.snapshot import NetworkSnapshot

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such network pickle")
    data = read_network_pickle(path)
    try:
        if isinstance(data, tuple) and len(data) == 3 and all(isinstance(net, TF1Network) for net in data):
            G, D, G_ema, G_kwargs, D_kwargs, info = import_tf1(*data)
        elif isinstance(data, dict) and any(isinstance(data.get(k), ADAModule) for k in ("G", "D", "G_ema")):
            G, D, G_ema, G_kwargs, D_kwargs, info = import_ada(data)
        else:
            kind = f"a {len(data)}-tuple" if isinstance(data, tuple) else f"a {type(data).__name__}"
            raise UserError(f"{path}: holds {kind}, neither NVIDIA's (G, D, Gs) TF1 networks nor StyleGAN2-ADA's "
                            f"dict(G, D, G_ema)")
    except Unmappable as err:
        raise UserError(f"{path}: cannot import: {err}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as err:  # malformed kwargs or values
        detail = str(err).splitlines()[0] if str(err) else ""
        raise UserError(f"{path}: cannot import: {type(err).__name__}: {detail}") from None

    method = info.pop("method")
    kimg = re.search(r"network-snapshot-(\d+)\.pkl$", os.path.basename(path))
    source = {"file": os.path.abspath(path), "sha256": _sha256(path), **info}
    if kimg:
        source["kimg"] = int(kimg.group(1))  # training progress of the original run; fine-tuning counts from 0
    metadata = {"method": method, "config": matching_preset(G_kwargs, D_kwargs), "source": source}
    snap = NetworkSnapshot(G, D, G_ema, metadata=metadata, name="network_snapshot")
    snap.build()
    return snap
