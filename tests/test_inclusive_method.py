"""`--method inclusive` on the training loop: loss terms by hand, minority batches, runs, 1 device == 2 replicas,
exact resume, the LPIPS-missing error."""

import json
import os

import fixtures
import numpy as np
import pytest
import tensorflow as tf

from inclusive import latents
from inclusive.method import InclusiveMethod, lpips_distance
from stylegan2.errors import UserError
from stylegan2.metrics.feature_nets import LPIPS
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.method import StepContext
from stylegan2.training.snapshot import load_snapshot
from stylegan2.training.strategy import mirrored_strategy
from tests.fixtures import lpips_standin_arrays

MINORITY = "Attractive,Bags_Under_Eyes"  # fixture rows: image number even and divisible by 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """'mnist': 128 Stacked-MNIST-like 16x16 RGB images with 1000-class one-hot labels; 'celeba': 48 images with
    CelebA's 40 named {0,1} attributes (dataset_tool's create_celeba format, at 16 px)."""
    root = tmp_path_factory.mktemp("inclusive")
    rnd = np.random.RandomState(0)
    images = (rnd.rand(128, 3, 16, 16) * 255).astype(np.uint8)
    with TFRecordExporter(str(root / "mnist"), 128, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(np.eye(1000)[rnd.randint(1000, size=128)], label_kind="onehot")
    attrs = np.array([[1 if v == 1 else 0 for v in fixtures.celeba_attrs(i + 1)] for i in range(48)], np.float32)
    with TFRecordExporter(str(root / "celeba"), 48, progress=False) as tfr:
        tfr.add_images(images[:48])
        tfr.add_labels(attrs, label_names=list(fixtures.CELEBA_ATTRS))
    return str(root)


def read(path):
    with open(path) as f:
        return f.read()


def argv_for(data_dir, tmp_path, dataset="mnist", data_size=128, *extra):
    return ["--data-dir", data_dir, "--dataset", dataset, "--config", "tiny", "--data-size", str(data_size),
            "--minibatch-gpu", "4", "--num-samples-factor", "2", "--rec-loss", "l2", "--kimg-per-tick", "0.016",
            "--grid", "2x2", "--result-dir", str(tmp_path / "results"), *extra]


def lpips_standin(seed=0):
    return LPIPS.from_arrays(*lpips_standin_arrays(seed))


@pytest.mark.parametrize("rec_loss", ["l2", "lpips-standin"])
def test_g_loss_terms_match_a_hand_computation(data_dir, tmp_path, rec_loss):
    options, _ = cli.build_options(argv_for(data_dir, tmp_path, "mnist", 128))
    options.hparams["style_mixing_prob"] = 0.0  # G(z) is then a plain function of z (noise strengths start at 0)
    loop = TrainingLoop(options)
    method = loop.method
    if rec_loss == "l2":
        def dist(a, b):
            return np.mean((np.asarray(a, np.float64) - b) ** 2, axis=(1, 2, 3))
    else:
        lpips = lpips_standin()
        method.distance = lpips_distance(lpips)

        def dist(a, b):
            return np.asarray(lpips((np.asarray(a) + 1) * 127.5, (np.asarray(b) + 1) * 127.5), np.float64)
    for w in loop.G.weights:
        if "noise_strength" in w.path:
            assert np.all(np.asarray(w) == 0)
    rnd = np.random.RandomState(3)
    half, z_dim = 4, loop.G.z_dim
    x1, x2 = (rnd.uniform(-1, 1, (half, 16, 16, 3)).astype(np.float32) for _ in range(2))
    z1, z2, n1, n2 = (rnd.randn(half, z_dim).astype(np.float32) for _ in range(4))
    t = rnd.uniform(0, 1, (half, 1)).astype(np.float32)
    noises = iter([n1, n2])
    method.perturbation_noise = lambda ctx, b: tf.constant(next(noises))
    method.interpolation_t = lambda ctx, b: tf.constant(t)
    ctx = StepContext(loop, tf.constant([1, 2], tf.int64), 8)
    idx = tf.zeros([half], tf.int64)
    loss, stats = method.g_main(ctx, tf.constant(x1), tf.constant(z1), idx, tf.constant(x2), tf.constant(z2), idx)

    def G(z):
        return np.asarray(loop.G(tf.constant(z.astype(np.float32))), np.float64)

    f = method.opts["knn_perturb_factor"]
    w = method.opts["NN_rec_lpips_weight"]
    assert (f, w) == (0.05, 2.5)
    p1, p2 = latents.slerp(z1.astype(np.float64), n1, f), latents.slerp(z2.astype(np.float64), n2, f)
    rec = 0.5 * (dist(G(p1), x1) + dist(G(p2), x2)) * w
    y_t = G(latents.slerp(p2, p1, t))
    interp = ((1 - t[:, 0]) * dist(y_t, x2) + t[:, 0] * dist(y_t, x1)) * 0.4 * w
    arb = np.log1p(np.exp(-np.asarray(stats["Loss/scores/fake"], np.float64)))
    np.testing.assert_allclose(stats["Loss/loss_NN_rec_lpips"], rec, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(stats["Loss/loss_NN_interp_lpips"], interp, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(stats["Loss/loss_G_arb"], arb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, rec + interp + arb, rtol=2e-4, atol=1e-5)
    assert loss.shape == (half,)  # IG: per-sample G loss over minibatch_gpu = B / 2 pairs


@pytest.fixture(scope="module")
def minority_run(data_dir, tmp_path_factory):
    """The CelebA-style command with --attr-interesting, 12 steps (2 epochs of 48 images; --init-staleness 1 rebuilds
    at epochs 0, 1 and 2), recording the record indices of G's IMLE batches and of D's batches."""
    tmp_path = tmp_path_factory.mktemp("minority")
    seen = {"G_main": [], "D_main": []}
    original = InclusiveMethod.phase_inputs

    def spy(self, phase, loop):
        inputs = original(self, phase, loop)
        if phase == "G_main":
            seen[phase].append(self.last_rec_indices.copy())
        elif phase == "D_main":
            seen[phase].append(np.asarray(inputs[2]))
        return inputs

    InclusiveMethod.phase_inputs = spy
    try:
        run_dir = cli.main(minority_argv(data_dir, tmp_path, "--total-kimg", "0.096"))
    finally:
        InclusiveMethod.phase_inputs = original
    return run_dir, seen, tmp_path


def minority_argv(data_dir, tmp_path, *extra):
    return argv_for(data_dir, tmp_path, "celeba", 48, "--attr-interesting", MINORITY, "--init-staleness", "1",
                    "--snapshot-ticks", "100", *extra)


def test_minority_filter_g_batches_hold_only_minority_records(minority_run):
    run_dir, seen, _ = minority_run
    numbers = np.arange(48) + 1  # record k holds fixture image k + 1
    members = set(np.flatnonzero((numbers % 2 == 0) & (numbers % 3 == 0)).tolist())
    g = np.concatenate(seen["G_main"])
    d = np.concatenate(seen["D_main"])
    assert len(g) == 12 * 8 and set(g.tolist()) == members  # 8 members, cycled through in stored order
    np.testing.assert_array_equal(np.sort(g[:8]), sorted(members))
    assert set(d.tolist()) - members  # D still sees the whole dataset
    assert os.path.basename(run_dir).endswith("-Attractive_and_Bags_Under_Eyes")
    assert {"arb-reals.png", "rec-reals.png", "rec-fakes-000000.096.png", "network-snapshot-000000.096.keras",
            "_finished.txt"} <= set(os.listdir(run_dir))


def test_stacked_mnist_style_run_writes_every_output(data_dir, tmp_path):
    run_dir = cli.main(argv_for(data_dir, tmp_path, "mnist", 128, "--total-kimg", "0.048", "--snapshot-ticks", "2",
                                "--init-proj-dim", "32", "--exclusive-retrieved-code", "1"))
    assert os.path.basename(run_dir) == "00000-inclusive-mnist-tiny-1gpu-32Proj-stal10-nsf2-kpf0.05-rec2.5-l2"
    files = set(os.listdir(run_dir))
    assert {"training_options.json", "log.txt", "arb-reals.png", "arb-fakes-000000.032.png", "arb-fakes-000000.048.png",
            "rec-reals.png", "rec-fakes-000000.016.png", "rec-fakes-000000.032.png", "rec-fakes-000000.048.png",
            "network-snapshot-000000.032.keras", "network-snapshot-000000.048.keras", "checkpoints",
            "random_projector_mat_768to32.npy", "_finished.txt"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)
    log = read(os.path.join(run_dir, "log.txt"))
    assert "IMLE rebuild 1 at kimg 0.0: 256 candidates, 128 reals" in log
    ticks = [line for line in log.splitlines() if line.startswith("tick ")]
    for name in ("Loss/loss_NN_rec_lpips", "Loss/loss_NN_interp_lpips", "Loss/loss_G_arb", "Loss/pl_penalty",
                 "Loss/D/loss", "Loss/r1_penalty"):
        assert name in ticks[0]
    options = json.loads(read(os.path.join(run_dir, "training_options.json")))
    assert options["method"] == "inclusive" and options["config"] == "tiny" and options["batch"] == 8
    assert options["method_options"]["rec_loss"] == "l2" and options["method_options"]["data_size"] == 128
    assert options["method_options"]["init_staleness"] == 10 and options["hparams"]["ema_kimg"] == 20.0
    assert load_snapshot(run_dir).metadata["method"] == "inclusive"


def test_inclusive_defaults_follow_ig():
    options, _ = cli.build_options(["--dataset", "celeba", "--data-size", "30000", "--num-gpus", "2"])
    assert options.method == "inclusive" and options.config == "config-e" and options.batch == 24
    assert options.total_kimg == 300000 and options.kimg_per_tick == 1.0 and options.snapshot_ticks == 150
    assert options.hparams["r1_gamma"] == 100.0 and options.method_options["knn_perturb_factor"] == 0.05
    assert options.hparams["mbstd_group_size"] == 6 and options.hparams["ema_kimg"] == 20.0  # IG's D; Gs_beta
    with pytest.raises(UserError, match="--rec-loss nope: choose one of lpips, l2, l1"):
        cli.build_options(["--dataset", "x", "--data-size", "24", "--rec-loss", "nope"])


def test_lpips_without_weights_fails_at_start_with_a_hint(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN2_OFFLINE", "1")
    monkeypatch.setenv("STYLEGAN2_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STYLEGAN2_WEIGHTS_DIR", raising=False)
    argv = [a if a != "l2" else "lpips" for a in argv_for(data_dir, tmp_path, "mnist", 128, "--total-kimg", "0.016")]
    message = fixtures.one_line_user_error(cli.main.__wrapped__, argv, "lpips_vgg16_v0.1.npz", "--rec-loss l2")
    assert "not found" in message
    assert not os.path.exists(tmp_path / "results")  # nothing was started
    fixtures.one_line_user_error(cli.main.__wrapped__, argv_for(data_dir, tmp_path, "mnist", 64),
                                 "--data-size 64: the dataset has 128 images")


def _two_steps(data_dir, tmp_path, strategy):
    options, _ = cli.build_options(argv_for(data_dir, tmp_path, "mnist", 128, "--init-staleness", "1"))
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}  # NVIDIA's grouping depends on the device batch
    options.mirror_augment = True
    # Only the phases this method changes (lazy PL and R1 are StyleGAN2's, compared in test_training.py): tracing
    # them under MirroredStrategy would double this test's time.
    options.hparams.update(G_reg_interval=0, D_reg_interval=0)
    loop = TrainingLoop(options, strategy=strategy)
    loop.prepare()
    loop.run_dir = str(tmp_path / f"run{strategy.num_replicas_in_sync}")
    os.makedirs(loop.run_dir)
    loop.method.on_start(loop)
    losses = []
    for _ in range(2):
        losses.append(loop.train_iteration())
        loop.method.on_step(loop)
    return loop, losses


def test_one_device_equals_two_replicas(data_dir, tmp_path):
    single, single_losses = _two_steps(data_dir, tmp_path, tf.distribute.get_strategy())
    double, double_losses = _two_steps(data_dir, tmp_path, mirrored_strategy(["/cpu:0", "/cpu:1"]))
    assert double.strategy.num_replicas_in_sync == 2
    np.testing.assert_array_equal(single.method.latents_np, double.method.latents_np)
    for a, b in zip(single_losses, double_losses):
        assert a.keys() == b.keys() and "Loss/loss_NN_rec_lpips" in a
        for name in a:
            np.testing.assert_allclose(a[name][0] / a[name][1], b[name][0] / b[name][1], rtol=1e-4, atol=1e-4,
                                       err_msg=name)
    for wa, wb in zip(single.G.weights, double.G.weights):
        np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=1e-4, atol=1e-4)


def test_resumed_run_equals_uninterrupted_run(data_dir, minority_run):
    """The minority run again in two parts (4 steps, then resumed to 12): the IMLE rebuilds at epochs 1 and 2 come
    after the resume, so the rec stream position, the schedule and the retrieved latents must carry over."""
    full, _, tmp_path = minority_run
    part = cli.main(minority_argv(data_dir, tmp_path, "--total-kimg", "0.032", "--result-dir", str(tmp_path / "b")))
    resumed = cli.main(["--data-dir", data_dir, "--dataset", "celeba", "--resume", part, "--total-kimg", "0.096"])
    assert resumed == part
    log_full = read(os.path.join(full, "log.txt"))
    log_part = read(os.path.join(part, "log.txt"))
    assert "Resumed from the checkpoint at kimg 0.0 (iteration 4)" in log_part
    assert log_full.count("IMLE rebuild") == log_part.count("IMLE rebuild") == 3  # epochs 0, 1 and 2
    a, b = load_snapshot(full), load_snapshot(part)
    for name in ("G", "D", "G_ema"):
        for wa, wb in zip(getattr(a, name).weights, getattr(b, name).weights):
            np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), rtol=1e-5, atol=1e-6, err_msg=name)
    ticks_full = [line.split("Loss/")[1:] for line in log_full.splitlines() if line.startswith("tick ")]
    ticks_part = [line.split("Loss/")[1:] for line in log_part.splitlines() if line.startswith("tick ")]
    assert len(ticks_full) == 6 and ticks_full == ticks_part
