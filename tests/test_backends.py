"""A saved generator runs under Keras' JAX backend and generates the same images (layers are keras.ops only)."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from stylegan2.presets import build_networks
from stylegan2.training.snapshot import clone_model, load_snapshot, save_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JAX_SCRIPT = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, {root!r})
import keras, numpy as np
assert keras.config.backend() == "jax"
from stylegan2.training.snapshot import load_snapshot
inputs = np.load({inputs!r})
noise = [inputs[f"noise{{i}}"] for i in range(int(inputs["num_noise"]))]
G = load_snapshot({snapshot!r}).G_ema
images = G(inputs["z"], inputs["c"], truncation_psi=0.7, noise=noise)
import jax
assert isinstance(images, jax.Array), type(images)  # computed by JAX, not by TensorFlow behind the scenes
jitted = jax.jit(lambda z, c, noise: G(z, c, truncation_psi=0.7, noise=noise))(inputs["z"], inputs["c"], noise)
assert np.abs(np.asarray(jitted) - np.asarray(images)).max() <= 1e-5
np.save({output!r}, np.asarray(images))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="optional: pip install -e '.[jax]'")
def test_snapshot_generates_the_same_images_under_jax(tmp_path):
    G, D = build_networks("tiny", 16, 3, c_dim=4)
    G_ema = clone_model(G)
    rnd = np.random.RandomState(0)
    for w in G_ema.weights:  # non-trivial weights everywhere (noise strengths and biases start at 0)
        w.assign(np.asarray(w) + 0.1 * np.asarray(rnd.randn(*w.shape), np.float32).reshape(w.shape))
    path = str(tmp_path / "network-snapshot-000001.keras")
    save_snapshot(path, G, D, G_ema, {"kimg": 1})
    z = rnd.randn(4, G.z_dim).astype(np.float32)
    c = np.eye(4, dtype=np.float32)
    noise = [rnd.randn(4, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
    inputs = str(tmp_path / "inputs.npz")
    np.savez(inputs, z=z, c=c, num_noise=len(noise), **{f"noise{i}": n for i, n in enumerate(noise)})
    expected = np.asarray(load_snapshot(path).G_ema(z, c, truncation_psi=0.7, noise=noise))
    output = str(tmp_path / "jax.npy")
    script = JAX_SCRIPT.format(root=ROOT, inputs=inputs, snapshot=path, output=output)
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          env=dict(os.environ, KERAS_BACKEND="jax"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(output)
    assert got.shape == expected.shape == (4, 16, 16, 3)
    assert np.abs(got - expected).max() <= 1e-4
