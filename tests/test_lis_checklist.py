"""The LIS checklist items on the seam: the reconstruction test (batched PyTorch RMSprop against per-image NumPy, the
best snapshot, resume), the split file (lis.split_data, training only on `train`), the --augment presets (each op's
statistics, the flip), the loss history per depth (plot, export_history's box smoothing)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lis import augment, history, reconstruction, split_data
from lis import final_test
from stylegan2.dataset import ImageDataset
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.snapshot import load_snapshot
from tests.fixtures import one_line_user_error, write_random_dataset

TINY = ["--config", "tiny", "--kimg-per-tick", "0.016", "--grid", "2x2", "--batch", "8"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """64 8x8 RGB images (no labels) and a split: 4 running, 8 final test images."""
    root = write_random_dataset(tmp_path_factory.mktemp("lisc"), 64)
    split_data.main.__wrapped__(["--data-dir", root, "--dataset", "ds", "--running", "4", "--final", "8",
                                 "--seed", "3"])
    return root


def split_path(data_dir):
    return os.path.join(data_dir, "ds", split_data.SPLIT_FILE)


def argv(data_dir, tmp_path, *extra):
    return ["--method", "lis", "--data-dir", data_dir, "--dataset", "ds", *TINY, "--result-dir",
            str(tmp_path / "results"), *extra]


# === The reconstruction test's optimizer ===


def numpy_rmsprop_one_image(A, x, steps, lr, eps=1e-6, alpha=0.9):
    """PyTorch's RMSprop on one code z (from 0) for MSE((A z - x) / 2) (images in [-1,1] measured in [0,1])."""
    z = np.zeros(A.shape[1])
    v = np.zeros_like(z)
    for _ in range(steps):
        r = A @ z - x
        g = A.T @ r / (2.0 * len(x))  # d/dz mean(((A z - x) / 2)^2)
        v = alpha * v + (1 - alpha) * g * g
        z = z - lr * g / (np.sqrt(v) + eps)
    return z, np.mean(((A @ z - x) / 2) ** 2)


@pytest.mark.parametrize("batch", [None, 1, 3])
def test_batched_rmsprop_equals_per_image_steps(batch):
    """All codes optimised as one batch on the sum of per-image MSEs (any batch size) = each image alone with PyTorch's
    RMSprop in NumPy; the small gradient scale makes eps's place (after the square root) matter."""
    rnd = np.random.RandomState(0)
    n, z_dim, h = 5, 6, 4
    A = rnd.randn(h * h * 3, z_dim) * 1e-3
    targets = np.tanh(rnd.randn(n, h, h, 3)).astype(np.float32)
    A_tf = tf.constant(A, tf.float32)

    def render(code, rows):
        return tf.reshape(tf.matmul(code, A_tf, transpose_b=True), [-1, h, h, 3])

    for steps in (1, 7):
        codes, losses = reconstruction.reconstruct(render, targets, z_dim, steps, lr=0.01, batch=batch)
        for i in range(n):
            z, loss = numpy_rmsprop_one_image(A, targets[i].reshape(-1), steps, 0.01)
            np.testing.assert_allclose(codes[i], z, rtol=2e-4, atol=1e-7)
            np.testing.assert_allclose(losses[i], loss, rtol=1e-5)


# === The split file ===


def test_split_is_one_permutation(data_dir, tmp_path):
    split = json.load(open(split_path(data_dir)))
    p = np.random.RandomState(3).permutation(64)
    assert split["running_test"] == p[:4].tolist()
    assert split["final_test"] == p[:8].tolist()
    assert split["train"] == p[8:].tolist()
    assert split["num_images"] == 64


def test_split_bad_inputs_are_one_line(data_dir, tmp_path):
    main = split_data.main.__wrapped__
    one_line_user_error(main, ["--data-dir", data_dir, "--dataset", "ds", "--final", "64"], "--final 64", "64 images")
    one_line_user_error(main, ["--data-dir", data_dir, "--dataset", "ds", "--running", "9", "--final", "8"],
                        "--running 9")
    one_line_user_error(main, ["--data-dir", data_dir, "--dataset", "nope"], "no such dataset")
    one_line_user_error(cli.build_options, argv(data_dir, tmp_path, "--split-file", str(tmp_path / "missing.json")),
                        "--split-file", "no such file")
    result = subprocess.run([sys.executable, "-m", "lis.split_data", "--data-dir", data_dir, "--dataset", "ds",
                             "--running", "100", "--final", "200"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and result.stderr.startswith("error: --final 200")


def test_training_stream_holds_only_train_images(data_dir, tmp_path):
    options, _ = cli.build_options(argv(data_dir, tmp_path, "--split-file", split_path(data_dir)))
    loop = TrainingLoop(options)
    loop._open_run_dir()
    loop.prepare()
    held_out = set(json.load(open(split_path(data_dir)))["final_test"])
    seen = set()
    for _ in range(20):  # 160 images: over two epochs of the 56 training images
        _, _, indices = loop.next_reals()
        seen |= set(np.asarray(indices).tolist())
    assert seen == set(range(64)) - held_out


# === Augmentation presets ===


def draw(op, image, seed, params=None):
    params = tf.constant(params if params is not None else [0.5] * (augment.PARAMS - 2), tf.float32)
    return augment.apply_op(op, tf.constant(image), params, tf.constant(seed, tf.int64)).numpy()


def test_augment_ops_statistics():
    rnd = np.random.RandomState(0)
    image = rnd.uniform(-0.8, 0.8, [16, 16, 3]).astype(np.float32)
    # noise: sigma = 0.07 u, one value per pixel for all channels
    out = draw(augment.NOISE, image, [1, 2], [1.0, 0, 0, 0, 0])
    d = out - image
    np.testing.assert_allclose(d[..., 0], d[..., 2], atol=1e-6)
    assert abs(d.std() - 0.07) < 0.01 and abs(d.mean()) < 0.015
    # multiply: the 0..255 value times 0.9 + 0.2 u
    np.testing.assert_allclose(draw(augment.MULTIPLY, image, [0, 0], [0.25, 0, 0, 0, 0]),
                               np.clip((image + 1) * 0.95 - 1, -1, 1), atol=1e-6)
    # contrast: a (v - 128) + 128 on 0..255 values
    v = (image + 1) * 127.5
    np.testing.assert_allclose(draw(augment.CONTRAST, image, [0, 0], [1.0, 0, 0, 0, 0]),
                               np.clip((1.1 * (v - 128) + 128) / 127.5 - 1, -1, 1), atol=1e-5)
    # affine about the centre: scale 1 (u = 0.5) and +-15 deg (u = 1 / 0) rotations of a symmetric image agree with a
    # 90-degree check: a rotation by 90 degrees is np.rot90 (same code path with the angle forced)
    identity = draw(augment.AFFINE_SYMMETRIC, image, [0, 0], [0.5, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(identity, image, atol=1e-5)
    shifted = draw(augment.AFFINE_CONSTANT, image, [0, 0], [0.5, 0.5, 0.5, 1.0, 0.5])  # tx = +10% = 1.6 px
    assert shifted.shape == image.shape
    t = augment.affine_inverse(tf.constant([0.5, 0.5, 0.5, 1.0, 0.5]), 16.0, translate=True).numpy()
    np.testing.assert_allclose(t, [1, 0, -1.6, 0, 1, 0, 0, 0], atol=1e-5)  # output x reads input x - 1.6
    t = augment.affine_inverse(tf.constant([1.0, 0.0, 0.5, 0.5, 0.5]), 16.0, translate=False).numpy()
    np.testing.assert_allclose(t[[0, 4]], [1 / 1.1, 1 / 0.9], rtol=1e-5)  # scale x 1.1, y 0.9
    t = augment.affine_inverse(tf.constant([0.5, 0.5, 1.0, 0.5, 0.5]), 16.0, translate=False).numpy()
    np.testing.assert_allclose([t[0], t[1]], [np.cos(np.pi / 12), np.sin(np.pi / 12)], rtol=1e-5)  # 15 degrees
    rotated = augment.apply_affine(tf.constant(image), tf.constant([0, 1, 0, -1, 0, 15, 0, 0], tf.float32),
                                   constant=True).numpy()  # p_in = (y, 15 - x): a quarter turn
    np.testing.assert_allclose(rotated, np.rot90(image, k=-1, axes=(0, 1)), atol=1e-5)


def test_augment_applies_each_op_half_the_time_in_random_order():
    """Each op's gate opens for ~half the images; flowers102's order varies per image; outputs stay in [-1, 1]."""
    image = np.zeros([8, 8, 1], np.float32)
    fn = augment.make_augment("cifar10")
    keys = tf.range(400, dtype=tf.int64)
    out = fn(tf.constant(np.repeat(image[None], 400, 0)), keys).numpy()
    changed = np.abs(out).max(axis=(1, 2, 3)) > 1e-6
    # all three ops leave a zero image unchanged except noise (multiply/contrast move 0 only slightly): count noise
    noisy = out.std(axis=(1, 2, 3)) > 1e-3
    assert 0.4 < noisy.mean() < 0.6 and changed.mean() >= noisy.mean()
    u = np.stack([tf.random.stateless_uniform([3, augment.PARAMS], tf.constant([k, 0], tf.int64)).numpy()
                  for k in range(400)])
    gate = u[:, 0, 0] < 0.5  # the noise gate is the first op's first uniform, its sigma 0.07 x the third
    assert noisy[gate & (u[:, 0, 2] > 0.05)].all() and not noisy[~gate].any()
    orders = {tuple(np.argsort(row[:, 1])) for row in u}
    assert len(orders) == 6  # every order of the 3 ops occurs
    assert augment.make_augment("none") is None
    batch = tf.constant(np.random.RandomState(1).uniform(-1, 1, [32, 8, 8, 3]).astype(np.float32))
    for name in ("flowers102", "10kcats", "lsun_churches"):
        out = augment.make_augment(name)(batch, tf.range(32, dtype=tf.int64)).numpy()
        assert out.shape == batch.shape and np.all(np.abs(out) <= 1)


def test_augment_none_flips_half_the_stream(data_dir, tmp_path):
    """--augment none: the mirror flip alone, about half of the images, a pure function of (seed, position)."""
    options, _ = cli.build_options(argv(data_dir, tmp_path, "--augment", "none"))
    assert options.mirror_augment
    dataset = ImageDataset(os.path.join(data_dir, "ds"))
    stored = {int(i): img for imgs, _, idx in dataset.iterate_numpy() for img, i in zip(imgs, idx)}
    flipped = []
    ds = dataset.pipeline(16, shuffle=True, mirror=options.mirror_augment, seed=5)
    for images, _, indices in ds.take(40):
        for img, i in zip(images.numpy(), indices.numpy()):
            same, mirrored = np.allclose(img, stored[i]), np.allclose(img, stored[i][:, ::-1])
            assert same != mirrored
            flipped.append(mirrored)
    assert 0.42 < np.mean(flipped) < 0.58, np.mean(flipped)


# === Loss history ===


def test_export_history_is_the_originals_csv(tmp_path):
    rows = [{"step": 1, "loss-g-mix_train-g0": 1.0, "loss-d-mix_train-d-real": 0.5},
            {"step": 2, "loss-g-mix_train-g1": 2.0, "loss-d-mix_train-d-real": 0.7},
            {"step": 3, "loss-g-mix_train-g0": 3.0, "loss-d-mix_train-d-real": 0.9, "loss-r-mix_train-r0": 0.2}]
    out = tmp_path / "h.csv"
    history.export_csv(rows, str(out), kernel_size=3)
    lines = out.read_text().split("\n")
    assert lines[0] == "__index,loss-r-mix_train-r0,loss-g-mix_train-g0,loss-g-mix_train-g1,loss-d-mix_train-d-real"
    # forward fill (0 before the first value), then a box of 3 zero-padded at the ends (np.convolve 'same')
    table = np.array([[0, 1, 0, .5], [0, 1, 2, .7], [.2, 3, 2, .9]])
    smooth = np.stack([np.convolve(table[:, j], np.ones(3) / 3, mode="same") for j in range(4)], 1)
    for line, x, row in zip(lines[1:], (1, 2, 3), smooth):
        assert line == f"{x}," + ",".join(f"{v:.4f}" for v in row)
    history.export_csv(rows, str(out), start=1, subsample=2, kernel_size=1)
    assert out.read_text().split("\n")[1:] == ["3,0.2000,3.0000,2.0000,0.9000"]  # 1 <= i, i % 2 == 0: row 2
    history.export_csv(rows, str(out), start=0, subsample=2, kernel_size=1)
    assert [line.split(",")[0] for line in out.read_text().split("\n")[1:]] == ["1", "3"]
    history.write_rows(str(tmp_path / history.HISTORY_FILE), rows)
    result = subprocess.run([sys.executable, "-m", "lis.export_history", str(tmp_path), "--kernel-size", "3"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and (tmp_path / "history.csv").read_text().split("\n")[1:] == lines[1:]
    result = subprocess.run([sys.executable, "-m", "lis.export_history", str(tmp_path / "none")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_lines_of_stats_per_depth():
    stats = {"Loss/D/real": 0.3, "Loss/D/fake_depth2": 0.4, "Loss/G/depth0": 1.5, "Loss/lis/r1": 3.0,
             "Loss/G/loss": 9.0, "Loss/G/depth1": 0.0}  # depth 1 not drawn this tick: the loop shows 0
    assert history.lines_of_stats(stats, "g_lis", 3) == {
        "loss-d-mix_train-d-real": 0.3, "loss-d-mix_train-d-fake2": 0.4, "loss-g-mix_train-g0": 1.5,
        "loss-r-mix_train-r1": 1.0}  # r lines clipped to [0, 1]
    stats = {"Loss/D/fake_step1": 0.4, "Loss/G/step0": 1.5, "Loss/R/mse2": 0.25}
    assert history.lines_of_stats(stats, "r_iterative", 2) == {
        "loss-d-mix_train-d-fake1": 0.4, "loss-g-mix_train-g0": 1.5, "loss-r-mix_train-r1": 0.25}


# === A run: test, best snapshot, history, resume, final test ===


def run_argv(data_dir, tmp, *extra):
    return argv(data_dir, tmp, "--split-file", split_path(data_dir), "--test-interval", "2", "--test-steps", "3",
                "--augment", "cifar10", "--snapshot-ticks", "2", "--r-iterations", "2", *extra)


@pytest.fixture(scope="module")
def checklist_run(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("checklist")
    return cli.main(run_argv(data_dir, tmp, "--total-kimg", "0.064")), tmp


def read_jsonl(path):
    return [json.loads(line) for line in open(path)]


@pytest.mark.slow
def test_run_tests_keeps_best_and_history(checklist_run):
    run_dir, _ = checklist_run
    tests = read_jsonl(os.path.join(run_dir, "running_test", "losses.jsonl"))
    assert [t["step"] for t in tests] == [2, 4, 6, 8]
    best = min(tests, key=lambda t: t["test_loss"])
    record = json.load(open(os.path.join(run_dir, "running_test", "best.json")))
    assert record["step"] == best["step"] and record["loss"] == pytest.approx(best["test_loss"])
    assert [t["best"] for t in tests] == [t["test_loss"] < min([u["test_loss"] for u in tests[:k]] or [np.inf])
                                          for k, t in enumerate(tests)]
    snap = load_snapshot(os.path.join(run_dir, "network-snapshot-best.keras"))
    assert snap.metadata["step"] == best["step"]
    # the best snapshot's G_ema reproduces the logged loss (the same test, recomputed)
    images = np.stack([np.asarray(x) for x in load_running_images(snap)])
    render = reconstruction.make_render(snap.G_ema, snap.metadata["sampling"]["lis"])
    _, losses = reconstruction.reconstruct(render, images, snap.G_ema.z_dim, 3)
    assert np.mean(losses) == pytest.approx(best["test_loss"], rel=1e-4)
    for name in ("target.png", "test_2.png", "r0_test_2.png", "r1_test_2.png", "all_test_2.png"):
        assert os.path.isfile(os.path.join(run_dir, "running_test", name)), name
    rows = read_jsonl(os.path.join(run_dir, history.HISTORY_FILE))
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    assert all("loss-d-mix_train-d-real" in r for r in rows)
    assert any(k.startswith("loss-g-mix_train-g") for r in rows for k in r)
    assert os.path.isfile(os.path.join(run_dir, history.PLOT_FILE))
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "Reconstruction test at iteration 8" in log and "LIS/test_loss" in log


def load_running_images(snap):
    from lis.method import read_images

    split = json.load(open(snap.metadata["method_options"]["split_file"]))
    return read_images(ImageDataset(snap.metadata["dataset"]), split["running_test"])[0]


@pytest.mark.slow
def test_killed_run_resumes_its_tests_and_history_exactly(data_dir, checklist_run):
    """Killed after tick 3's log line (its test ran, its history row is written, its checkpoint is not): the resumed
    run drops those rows, repeats the iterations and ends with the uninterrupted run's files."""
    full, tmp = checklist_run
    env = dict(os.environ, STYLEGAN2_KILL_AT="tick:3")
    result = subprocess.run([sys.executable, "run_training.py", *run_argv(data_dir, tmp / "b", "--total-kimg",
                                                                          "0.064")], env=env, capture_output=True,
                            text=True)
    assert result.returncode == -9, result.stderr[-2000:]
    results = tmp / "b" / "results"
    part = os.path.join(results, next(n for n in os.listdir(results) if not n.startswith(".")))
    assert [r["step"] for r in read_jsonl(os.path.join(part, history.HISTORY_FILE))] == [2, 4, 6]
    assert cli.main(["--data-dir", data_dir, "--dataset", "ds", "--resume", part]) == part
    for name in (history.HISTORY_FILE, os.path.join("running_test", "losses.jsonl")):
        a, b = read_jsonl(os.path.join(full, name)), read_jsonl(os.path.join(part, name))
        assert [sorted(r) for r in a] == [sorted(r) for r in b], name
        for ra, rb in zip(a, b):
            for k in ra:
                assert ra[k] == pytest.approx(rb[k], rel=1e-4, abs=1e-6), (name, k)
    assert json.load(open(os.path.join(full, "running_test", "best.json")))["step"] == \
        json.load(open(os.path.join(part, "running_test", "best.json")))["step"]


@pytest.mark.slow
def test_final_test_writes_pairs_and_loss(checklist_run):
    run_dir, _ = checklist_run
    record = final_test.main.__wrapped__([run_dir, "--test-steps", "3", "--batch", "3"])
    out = os.path.join(run_dir, "best_test")
    assert sorted(os.listdir(out)) == sorted([f"{i}.png" for i in range(8)] + ["loss.json"])
    assert json.load(open(os.path.join(out, "loss.json")))["loss"] == pytest.approx(record["loss"])
    # the running-test images are the first final-test images: the same per-image losses as the running test's
    best = json.load(open(os.path.join(run_dir, "running_test", "best.json")))
    assert np.mean(record["per_image"][:4]) == pytest.approx(best["loss"], rel=1e-4)
    one_line_user_error(final_test.main.__wrapped__, [run_dir, "--net", "nope.keras"], "--net nope.keras")
