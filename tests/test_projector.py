"""IvOM projector (inclusive/projector.py, run_projector.py): schedule, a run on a tiny snapshot, errors."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from test_inclusive_method import lpips_standin

from inclusive import projector
from inclusive.method import lpips_distance
from stylegan2.presets import build_networks
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training.snapshot import clone_model, save_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 16x16 RGB dataset of 5 images and a tiny snapshot of a matching (untrained) network."""
    root = tmp_path_factory.mktemp("projector")
    rnd = np.random.RandomState(0)
    with TFRecordExporter(str(root / "ds"), 5, progress=False) as tfr:
        tfr.add_images((rnd.rand(5, 3, 16, 16) * 255).astype(np.uint8))
    G, D = build_networks("tiny", 16, 3)
    path = str(root / "network-snapshot-000000.keras")
    save_snapshot(path, G, D, clone_model(G), {"kimg": 0.0})
    return str(root), path, G


def test_schedule_is_igs():
    p = projector.Projector(None, None, num_steps=400)
    lr, noise = p.schedule(0)
    assert lr == 0.0 and noise == pytest.approx(0.05)
    lr, noise = p.schedule(20)  # t = 0.05: ramp-up done
    assert lr == pytest.approx(0.1) and noise == pytest.approx(0.05 * (1 - 0.05 / 0.75) ** 2)
    lr, noise = p.schedule(350)  # t = 0.875: half-way down the cosine ramp-down, noise 0 after t = 0.75
    assert lr == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(math.pi * 0.5))) and noise == 0.0


def test_projection_reduces_the_distance(setup):
    _, _, G = setup
    targets = np.asarray(G(np.random.RandomState(5).randn(2, G.z_dim).astype(np.float32)))
    lpips = lpips_distance(lpips_standin())
    start = projector.Projector(G, lpips, num_steps=1, seed=1).project(targets)[1]
    images, dists = projector.Projector(G, lpips, num_steps=30, seed=1).project(targets)
    assert images.shape == targets.shape and dists.shape == (2,)
    assert np.mean(dists) < np.mean(start)


def test_run_projector_writes_files_and_prints_ivom(setup, tmp_path):
    data_dir, snap, _ = setup
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run_projector.py"), "project-real-images",
                           "--network", snap, "--data-dir", data_dir, "--dataset", "ds", "--num-images", "3",
                           "--minibatch-size", "2", "--num-steps", "4", "--num-snapshots", "2", "--rec-loss", "l2",
                           "--result-dir", str(tmp_path)], check=False, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("network-snapshot-000000.keras: IvOM = ") and ", std = " in line
    run_dir = os.path.join(tmp_path, "00000-project-real-images")
    files = set(os.listdir(run_dir))
    for i in range(3):
        assert {f"image{i:04d}-target.png", f"image{i:04d}-step0002.png", f"image{i:04d}-step0004.png"} <= files
    assert "ivom.txt" in files


def test_bad_input_gives_one_line(setup, tmp_path):
    import fixtures

    data_dir, snap, _ = setup
    base = ["project-real-images", "--data-dir", data_dir, "--rec-loss", "l2", "--result-dir", str(tmp_path)]
    fixtures.one_line_user_error(projector.run, base + ["--network", str(tmp_path / "nope.keras"), "--dataset", "ds"],
                                 "nope.keras: network snapshot not found")
    fixtures.one_line_user_error(projector.run, base + ["--network", snap, "--dataset", "missing"], "missing")
    fixtures.one_line_user_error(projector.run, base + ["--network", snap, "--dataset", "ds", "--num-steps", "0"],
                                 "--num-steps 0: must be at least 1")
