"""A run survives anything: killed at any moment (before its first checkpoint, while writing an image grid, a
snapshot or a checkpoint, between a tick's log line and its checkpoint) it resumes with one command and ends as the
uninterrupted run does, with the same snapshots; a diverged run never writes a non-finite value, names the last good
snapshot and checkpoint, and resumes from them with a change that is allowed on resume; other changes are refused."""

import glob
import os
import subprocess
import sys

import fixtures
import numpy as np
import pytest
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.training import cli
from stylegan2.training.loop import TrainingDiverged
from stylegan2.training.snapshot import list_snapshots, load_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return fixtures.write_random_dataset(tmp_path_factory.mktemp("resume"), 64, seed=1)


def base(data_dir, result_dir):
    return ["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--batch", "8", "--kimg-per-tick", "0.016",
            "--snapshot-ticks", "2", "--grid", "2x2", "--result-dir", str(result_dir)]


def checkpoint_values(run_dir):
    """Every value of the latest checkpoint, by name."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") and "save_counter" not in name}


def all_finite(values):
    return all(np.isfinite(v).all() for v in values.values() if np.asarray(v).dtype.kind == "f")


def test_divergence_writes_nothing_non_finite_and_resumes_from_the_last_good_checkpoint(data_dir, tmp_path):
    run_dir = cli.main.__wrapped__(base(data_dir, tmp_path) + ["--total-kimg", "0.032", "--gamma", "10"])
    # R1 with gamma 1e36 at iteration 16 (the next lazy D_reg) poisons D; ticks are 2 iterations, checkpoints each.
    with pytest.raises(TrainingDiverged) as info:
        cli.main.__wrapped__(["--resume", run_dir, "--gamma", "1e36", "--total-kimg", "0.5"])
    message = str(info.value)
    checkpoint = os.path.join(run_dir, "checkpoints", "ckpt-16")
    snapshot = os.path.join(run_dir, "network-snapshot-000000.128.keras")
    assert f"the last good checkpoint is {checkpoint} (iteration 16)" in message
    assert f"the last good snapshot {snapshot}" in message
    assert f"python run_training.py --resume {run_dir} --lr 0.001" in message and "\n" not in message
    assert tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")) == checkpoint
    assert all_finite(checkpoint_values(run_dir))
    for path in list_snapshots(run_dir):
        snap = load_snapshot(path)
        assert all(np.isfinite(np.asarray(w)).all() for m in (snap.G, snap.D, snap.G_ema) for w in m.weights), path
    assert list_snapshots(run_dir)[-1] == snapshot
    # The remedy the message names: resume with another gamma (allowed on resume) from the good checkpoint.
    cli.main.__wrapped__(["--resume", run_dir, "--gamma", "10", "--total-kimg", "0.160"])
    assert "Resumed from the checkpoint at kimg 0.1 (iteration 16)" in open(os.path.join(run_dir, "log.txt")).read()
    assert load_snapshot(run_dir).metadata["kimg"] == 0.16 and all_finite(checkpoint_values(run_dir))


@pytest.mark.parametrize("argv, fragment", [
    (["--config", "small"], "--config: the run in {run} was trained with 'tiny'; --config cannot change when a run "
                            "resumes (these can: --total-kimg, --num-gpus, --batch-gpu, --metrics, --snapshot-ticks, "
                            "--checkpoint-ticks, --deterministic, --lr, --gamma and the metric flags); drop it or "
                            "start a new run"),
    (["--mirror-augment", "true"], "--mirror-augment: the run in {run} was trained with False"),
    (["--seed", "3"], "--seed: the run in {run} was trained with 1000"),
    (["--batch", "16"], "--batch: the run in {run} was trained with 8"),
    (["--kimg-per-tick", "1"], "--kimg-per-tick: the run in {run} was trained with 0.016"),
    (["--dataset", "other"], "--dataset other: the run in {run} trains on"),
])
def test_changes_a_resumed_run_cannot_take_are_refused(data_dir, tmp_path, argv, fragment):
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    options, _ = cli.build_options(base(data_dir, tmp_path))
    options.save(os.path.join(run_dir, "training_options.json"))
    with pytest.raises(UserError) as info:
        cli.main.__wrapped__(["--resume", run_dir, "--data-dir", data_dir, *argv])
    assert fragment.format(run=run_dir) in str(info.value) and "\n" not in str(info.value)
    # Allowed changes apply; flags equal to the run's own are fine.
    resumed = cli.resume_options(cli.build_options(["--resume", run_dir, "--gamma", "2", "--lr", "0.001",
                                                    "--config", "tiny"])[0], {"gamma", "lr", "config", "resume"})
    assert resumed.hparams["r1_gamma"] == 2 and resumed.hparams["lr"] == 0.001 and resumed.config == "tiny"
    assert resumed.total_kimg == options.total_kimg  # not given: the run's own length


def test_resume_refuses_folders_that_are_not_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="an empty directory .*start the run again without --resume"):
        cli.build_options(["--resume", str(tmp_path / "empty")])
    with pytest.raises(UserError, match="not a run directory of run_training.py"):
        cli.build_options(["--resume", str(tmp_path / "mine")])
    assert os.listdir(tmp_path / "mine") == ["notes.txt"] and os.listdir(tmp_path / "empty") == []


def run(argv, kill_at=None):
    env = dict(os.environ)
    env.pop("STYLEGAN2_KILL_AT", None)
    if kill_at:
        env["STYLEGAN2_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, os.path.join(ROOT, "run_training.py"), *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True)


@pytest.mark.slow
def test_kill_campaign_ends_as_the_uninterrupted_run(data_dir, tmp_path):
    argv = base(data_dir, tmp_path / "results") + ["--total-kimg", "0.096"]
    full = run(argv)
    assert full.returncode == 0, full.stderr[-2000:]
    full_dir, run_dir = sorted(glob.glob(str(tmp_path / "results" / "*")))[0], None

    # Killed: before the first checkpoint; while writing reals.png (its first image, as the restart rewrites it);
    # while writing the first snapshot (its checkpoint is in place); while writing the checkpoint of tick 4; between
    # the log line of tick 4 and its checkpoint. Each time the same one command resumes it.
    first = run(argv, kill_at="start")
    assert first.returncode == -9
    run_dir = sorted(glob.glob(str(tmp_path / "results" / "*")))[1]
    left_over = {}
    for kill_at in ("image:1", "snapshot:1", "checkpoint:2", "tick:1", None):
        proc = run(["--resume", run_dir], kill_at)
        if kill_at:
            assert proc.returncode == -9, (kill_at, proc.stderr[-2000:])
            left_over[kill_at] = sorted(e for e in os.listdir(run_dir) + os.listdir(os.path.join(run_dir, "checkpoints"))
                                        if ".tmp-" in e) if os.path.isdir(os.path.join(run_dir, "checkpoints")) \
                else sorted(e for e in os.listdir(run_dir) if ".tmp-" in e)
        else:
            assert proc.returncode == 0, proc.stderr[-2000:]
    # The kills did leave half-written files behind, and resuming removed them all.
    assert any(name.startswith("reals.png.tmp-") for name in left_over["image:1"])
    assert any(".keras.tmp-" in name for name in left_over["snapshot:1"])
    assert any(name.startswith(".tmp-") for name in left_over["checkpoint:2"])
    assert not [e for e in os.listdir(run_dir) if ".tmp-" in e]
    assert not [e for e in os.listdir(os.path.join(run_dir, "checkpoints")) if e.startswith(".tmp-")]

    names = [os.path.basename(p) for p in list_snapshots(full_dir)]
    assert names == ["network-snapshot-000000.032.keras", "network-snapshot-000000.064.keras",
                     "network-snapshot-000000.096.keras"]
    assert [os.path.basename(p) for p in list_snapshots(run_dir)] == names
    assert sorted(f for f in os.listdir(run_dir) if f.startswith("fakes")) == \
        sorted(f for f in os.listdir(full_dir) if f.startswith("fakes"))
    for name in names:
        a, b = load_snapshot(os.path.join(full_dir, name)), load_snapshot(os.path.join(run_dir, name))
        for net in ("G", "D", "G_ema"):
            for wa, wb in zip(getattr(a, net).weights, getattr(b, net).weights):
                np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb), err_msg=f"{name} {net} {wa.path}")
    ticks = [line.split()[1] for line in open(os.path.join(run_dir, "log.txt")) if line.startswith("tick ")]
    assert ticks[-1] == "6"  # the tick count continued through every resume
