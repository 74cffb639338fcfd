"""The 2D study (selfcond.toy2d): metrics, data, networks and the training step against independent NumPy, the
command line, and a tiny end-to-end run that resumes exactly."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from selfcond.toy2d import cli, data, metrics, networks, plots
from selfcond.toy2d.options import Toy2DOptions
from selfcond.toy2d.train import Toy2DRun, TorchAdam, make_train_step, read_log, summarize

RING_SIGMA, GRID_SIGMA = 0.01, 0.05


# === Metrics ===


def orig_percent_good_pts(x_fake, means, threshold):
    """2d_mix/evaluation.py percent_good_pts, transcribed."""
    count = 0
    counts = np.zeros(len(means))
    visited = set()
    for point in x_fake:
        minimum = 0
        diff_minimum = [1e10, 1e10]
        for i, mean in enumerate(means):
            diff = np.abs(point - mean)
            if np.all(diff < threshold):
                visited.add(tuple(mean))
                count += 1
                break
        for i, mean in enumerate(means):
            diff = np.abs(point - mean)
            if np.linalg.norm(diff) < np.linalg.norm(diff_minimum):
                minimum = i
                diff_minimum = diff
        counts[minimum] += 1
    kl = 0
    counts = counts / len(x_fake)
    for generated in counts:
        if generated != 0:
            kl += generated * np.log(len(means) * generated)
    return count / len(x_fake), len(visited), kl


def test_mode_centres():
    ring = data.ring_means()
    np.testing.assert_allclose(ring[0], [0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(ring[2], [2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    grid = data.grid_means()
    assert grid.shape == (25, 2)
    np.testing.assert_array_equal(grid[5 * 1 + 3], [-2.0, 2.0])  # label 5i + j at (2i - 4, 2j - 4)


def test_high_quality_is_a_3_sigma_box_in_both_coordinates():
    means = data.ring_means()
    s = RING_SIGMA
    m = means[1]
    points = np.array([
        m + [2.9 * s, 2.9 * s],    # inside the box, though 4.1 sigma away in l2 and 5.8 sigma in l1: good
        m + [-2.9 * s, 0.0],       # good
        m + [3.1 * s, 0.0],        # outside in x: not good
        m + [0.0, -3.05 * s],      # outside in y: not good
        means[4] + [2.0 * s, 2.0 * s],  # good, another mode
        [0.0, 0.0],                # far from all modes: not good, nearest... all equidistant: the first (mode 0)
    ])
    percent, modes, kl = metrics.percent_good(points, means, s)
    assert percent == pytest.approx(3 / 6)
    assert modes == 2
    # nearest modes: 1, 1, 1, 1, 4, 0 -> p = (1/6, 4/6, 1/6) over K = 8
    p = np.array([1, 4, 1]) / 6
    assert kl == pytest.approx(float(np.sum(p * np.log(8 * p))), rel=1e-12)
    assert (percent, modes) == orig_percent_good_pts(points, list(means), np.array([3 * s, 3 * s]))[:2]


def test_kl_of_a_generator_on_half_the_modes_is_ln2():
    means = data.ring_means()
    points = np.repeat(means[[0, 2, 4, 6]], 25, axis=0)
    percent, modes, kl = metrics.percent_good(points, means, RING_SIGMA)
    assert (percent, modes) == (1.0, 4)
    assert kl == pytest.approx(np.log(2.0), rel=1e-12)
    _, _, kl_all = metrics.percent_good(np.repeat(means, 3, axis=0), means, RING_SIGMA)
    assert kl_all == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("data_type", ["ring", "grid"])
def test_metrics_equal_the_original_loop(data_type):
    rng = np.random.default_rng(5)
    means = data.mode_means(data_type)
    sigma = RING_SIGMA if data_type == "ring" else GRID_SIGMA
    # a mix of good points, near misses and junk
    points = np.concatenate([means[rng.integers(0, len(means), 300)] + sigma * 2.5 * rng.standard_normal((300, 2)),
                             rng.uniform(-5, 5, (100, 2))])
    threshold = np.array([3 * sigma] * 2) if data_type == "ring" else 3 * sigma
    ours = metrics.percent_good(points, means, sigma)
    orig = orig_percent_good_pts(points, list(means), threshold)
    assert ours[:2] == orig[:2]
    assert ours[2] == pytest.approx(orig[2], rel=1e-12)


# === Data ===


def test_ring_statistics():
    x, y = data.sample_ring(80000, np.random.default_rng(0))
    assert x.shape == (80000, 2) and y.shape == (80000,)
    counts = np.bincount(y, minlength=8)
    assert counts.sum() == 80000 and np.all(np.abs(counts - 10000) < 500)
    means = data.ring_means()
    for m in range(8):
        pts = x[y == m]
        np.testing.assert_allclose(pts.mean(0), means[m], atol=5e-4)
        np.testing.assert_allclose(pts.std(0), [RING_SIGMA] * 2, rtol=0.05)
    assert not np.all(np.diff(y) >= 0)  # labels shuffled


def test_grid_statistics_and_labels():
    x, y = data.sample_grid(100000, np.random.default_rng(1))
    counts = np.bincount(y, minlength=25)
    assert np.all(np.abs(counts - 4000) < 300)
    means = data.grid_means()
    for m in range(25):
        pts = x[y == m]
        np.testing.assert_allclose(pts.mean(0), means[m], atol=5e-3)
        np.testing.assert_allclose(pts.std(0), [GRID_SIGMA] * 2, rtol=0.06)
    i, j = y // 5, y % 5
    np.testing.assert_allclose(np.rint(x), np.stack([2 * i - 4, 2 * j - 4], 1))


def test_variance_override_and_reproducibility():
    a, _ = data.sample("grid", 20000, np.random.default_rng(2), var=0.01)
    b, _ = data.sample("grid", 20000, np.random.default_rng(2), var=0.01)
    np.testing.assert_array_equal(a, b)
    assert (a - np.rint(a / 2) * 2).std() == pytest.approx(0.1, rel=0.05)


# === Networks ===


def np_weights(model):
    return {w.path: np.array(w.numpy(), np.float64) for w in model.weights}  # keys "fc1/kernel", ...


def np_generator(w, z, y, training, act_layers=4):
    """G forward in float64; training mode returns the BatchNorm batch statistics too."""
    e = w["embedding/embeddings"][y]
    h = np.concatenate([z, e / np.linalg.norm(e, axis=1, keepdims=True)], 1)
    stats = []
    for i in range(1, act_layers + 1):
        h = h @ w[f"fc{i}/kernel"] + w[f"fc{i}/bias"]
        if training:
            mean, var = h.mean(0), h.var(0)
            stats.append((mean, var))
        else:
            mean, var = w[f"bn{i}/moving_mean"], w[f"bn{i}/moving_var"]
        h = (h - mean) / np.sqrt(var + 1e-5) * w[f"bn{i}/gamma"] + w[f"bn{i}/beta"]
        h = np.maximum(h, 0.0)
    return h @ w["fc_out/kernel"] + w["fc_out/bias"], stats


def np_discriminator(w, x, y, pool=5):
    h = x
    for i in range(1, 4):
        out = h @ w[f"fc{i}/kernel"] + w[f"fc{i}/bias"]
        h = out.reshape(len(x), -1, pool).max(axis=2)
    logits = h @ w["fc4/kernel"] + w["fc4/bias"]
    return logits[np.arange(len(x)), y], h


def test_network_shapes_and_parameter_counts():
    k = 50
    G = networks.build_generator(k)
    D = networks.build_discriminator(k)
    z = np.zeros((7, 2), np.float32)
    y = np.arange(7, dtype=np.int32)
    assert G([z, y]).shape == (7, 2)
    assert D([z, y]).shape == (7,)
    assert networks.feature_model(D)(z).shape == (7, 200)
    # the PyTorch models' parameter counts (2d_mix/models/cluster.py), BatchNorm running stats excluded
    assert sum(int(np.prod(v.shape)) for v in G.trainable_weights) == (
        k * 32 + (34 * 400 + 400) + 3 * (400 * 400 + 400) + 4 * 2 * 400 + (400 * 2 + 2))
    assert D.count_params() == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + (200 * k + k)


def test_forward_passes_equal_numpy():
    k = 5
    G = networks.build_generator(k, act_dim=16, seed=3)
    D = networks.build_discriminator(k, act_dim=12, seed=4)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((32, 2)).astype(np.float32)
    y = rng.integers(0, k, 32).astype(np.int32)
    wg, wd = np_weights(G), np_weights(D)
    wg["bn2/moving_mean"][:] = 0.3  # non-trivial running stats
    G.get_layer("bn2").moving_mean.assign(np.full(16, 0.3, np.float32))
    expected, _ = np_generator(wg, z, y, training=False)
    np.testing.assert_allclose(G([z, y], training=False).numpy(), expected, rtol=1e-4, atol=1e-5)
    expected, stats = np_generator(wg, z, y, training=True)
    np.testing.assert_allclose(G([z, y], training=True).numpy(), expected, rtol=1e-4, atol=1e-5)
    # running stats moved by momentum 0.1 towards the batch mean and the unbiased variance
    mean, var = stats[0]
    np.testing.assert_allclose(G.get_layer("bn1").moving_mean.numpy(), 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(G.get_layer("bn1").moving_var.numpy(), 0.9 + 0.1 * var * 32 / 31, rtol=1e-4)
    logit, feats = np_discriminator(wd, z, y)
    np.testing.assert_allclose(D([z, y]).numpy(), logit, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(networks.feature_model(D)(z).numpy(), feats, rtol=1e-4, atol=1e-5)


def test_models_save_and_load_as_keras(tmp_path):
    G = networks.build_generator(3, act_dim=8)
    path = str(tmp_path / "g.keras")
    G.save(path)
    H = keras.saving.load_model(path)
    z = np.ones((4, 2), np.float32)
    y = np.array([0, 1, 2, 0], np.int32)
    np.testing.assert_array_equal(H([z, y]).numpy(), G([z, y]).numpy())


# === The training step ===


def flat(w, names):
    return np.concatenate([w[n].ravel() for n in names])


def unflat(w, names, vec):
    w = dict(w)
    i = 0
    for n in names:
        size = w[n].size
        w[n] = vec[i:i + size].reshape(w[n].shape)
        i += size
    return w


def numeric_grad(f, vec, eps=1e-6):
    g = np.zeros_like(vec)
    for i in range(len(vec)):
        e = np.zeros_like(vec)
        e[i] = eps
        g[i] = (f(vec + e) - f(vec - e)) / (2 * eps)
    return g


def softplus(x):
    return np.logaddexp(0.0, x)


def test_train_step_is_a_d_step_then_a_g_step_against_the_updated_d():
    """With SGD(lr 1) in place of Adam, each weight moves by minus its gradient: D by the gradient of
    BCE(D(x), 1) + BCE(D(G(z)), 0), then G by the gradient of BCE(D'(G(z)), 1) under the *updated* D'.
    Gradients from central differences of a float64 NumPy model; BatchNorm running stats move twice."""
    k = 3
    G = networks.build_generator(k, act_dim=4, embed_dim=3, seed=1)
    D = networks.build_discriminator(k, act_dim=3, seed=2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.integers(0, k, 16).astype(np.int32)
    z = rng.standard_normal((16, 2)).astype(np.float32)
    wg, wd = np_weights(G), np_weights(D)
    g_names = [v.path for v in G.trainable_weights]
    d_names = [v.path for v in D.trainable_weights]

    fake, stats = np_generator(wg, z, y, training=True)

    def dloss(vec):
        w = unflat(wd, d_names, vec)
        return softplus(-np_discriminator(w, x, y)[0]).mean() + softplus(np_discriminator(w, fake, y)[0]).mean()

    d_vec = flat(wd, d_names)
    d_new = d_vec - numeric_grad(dloss, d_vec)
    wd_new = unflat(wd, d_names, d_new)

    def gloss(vec):
        w = unflat(wg, g_names, vec)
        return softplus(-np_discriminator(wd_new, np_generator(w, z, y, training=True)[0], y)[0]).mean()

    g_vec = flat(wg, g_names)
    g_new = g_vec - numeric_grad(gloss, g_vec)

    G_opt, D_opt = keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0)
    G_opt.build(G.trainable_variables)
    D_opt.build(D.trainable_variables)
    dl, gl = make_train_step(G, D, G_opt, D_opt)(x, y, z)
    assert float(dl) == pytest.approx(dloss(d_vec), rel=1e-5)
    assert float(gl) == pytest.approx(gloss(g_vec), rel=1e-4)
    np.testing.assert_allclose(flat(np_weights(D), d_names), d_new, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(flat(np_weights(G), g_names), g_new, rtol=1e-3, atol=2e-5)
    mean, var = stats[0]  # the D step's and the G step's forward passes see the same batch: two equal updates
    np.testing.assert_allclose(G.get_layer("bn1").moving_mean.numpy(), (1 - 0.81) * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(G.get_layer("bn1").moving_var.numpy(), 0.81 + 0.19 * var * 16 / 15, rtol=1e-4)


def test_torch_adam_step():
    """torch.optim.Adam: m, v moving averages; var -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    var = keras.Variable(np.array([1.0, -2.0, 0.5, 3.0], np.float32))
    opt = TorchAdam(1e-2, beta_1=0.8, beta_2=0.999, epsilon=1e-8)
    grads = [np.array([0.3, -1e-7, 2.0, 0.0]), np.array([-0.1, 3e-7, 1.0, 1e-6]), np.array([0.2, 0.1, -4.0, 0.0])]
    p, m, v = var.numpy().astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        opt.apply([g.astype(np.float32)], [var])
        m = 0.8 * m + 0.2 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 1e-2 / (1 - 0.8**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8)
        np.testing.assert_allclose(var.numpy(), p, rtol=1e-5, atol=1e-7)


# === Plots ===


def test_scatter_blends_alpha_per_point(tmp_path):
    path = str(tmp_path / "s.png")
    points = np.array([[0.5, 0.5]] * 3 + [[-0.5, -0.5]])
    plots.scatter(path, [(points, "blue", 0.1)], (-1, 1), (-1, 1), size=(100 + 72, 100 + 56))
    from PIL import Image
    image = np.asarray(Image.open(path)).astype(np.float64) / 255
    left, top = plots.MARGIN[0], plots.MARGIN[1]
    three = image[top + 25, left + 75]   # data (0.5, 0.5) -> pixel (75, 25) of the 100x100 plot area
    one = image[top + 75, left + 25]
    np.testing.assert_allclose(three, [0.9**3, 0.9**3, 1.0], atol=1 / 255)
    np.testing.assert_allclose(one, [0.9, 0.9, 1.0], atol=1 / 255)


# === Options and command line ===


def test_experiment_directories_and_label_counts():
    o = Toy2DOptions(clusterer="selfcondgan", data_type="ring")
    assert o.exp_dir == os.path.join("output", "ring_selfcondgan_5000_50") and o.run_dir(0) == o.exp_dir
    assert o.total_iters == 100000 and o.var == 1e-4
    assert Toy2DOptions(clusterer="supervised", data_type="grid").k == 25
    assert Toy2DOptions(clusterer="supervised", data_type="ring").k == 8
    assert Toy2DOptions(clusterer="unconditional", data_type="ring").exp_dir.endswith("ring_unconditional_5000_1")
    o = Toy2DOptions(clusterer="online", data_type="grid", variance=0.01, nruns=3, recluster_every=100)
    assert o.run_dir(2) == os.path.join("output", "0.01_grid_online_100_50", "_run_2")


@pytest.mark.parametrize("argv,words", [
    (["--clusterer", "kmeans", "--data_type", "ring"], "--clusterer"),
    (["--clusterer", "selfcondgan", "--data_type", "square"], "--data_type"),
    (["--data_type", "ring"], "--clusterer"),
    (["--clusterer", "selfcondgan", "--data_type", "ring", "--npts", "50"], "--npts"),
    (["--clusterer", "selfcondgan", "--data_type", "ring", "--variance", "-1"], "--variance"),
    (["--clusterer", "selfcondgan", "--data_type", "ring", "--nepochs", "0"], "--nepochs"),
    (["--clusterer", "selfcondgan", "--data_type", "ring", "--z_dim", "two"], "--z_dim"),
])
def test_bad_flags_give_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


def test_original_command_lines_parse():
    o = cli.build_options(["--clusterer", "selfcondgan", "--data_type", "grid"])
    assert (o.recluster_every, o.num_clusters, o.npts, o.nepochs, o.test_batch_size) == (5000, 50, 100000, 100, 50000)
    o = cli.build_options("--clusterer online --data_type ring --recluster_every 100 --nruns 10 --burnin_time 2000 "
                          "--variance 0.001 --model_type standard --num_clusters 20 --z_dim 3 --d_act_dim 100 "
                          "--npts 5000 --train_batch_size 50 --test_batch_size 1000 --nepochs 2 --outdir x".split())
    assert (o.burnin_time, o.z_dim, o.d_act_dim, o.iters_per_epoch) == (2000, 3, 100, 100)


def test_summary_of_runs():
    def rec(it, modes, prop, kl):
        return dict(it=it, modes=modes, prop_real=prop, kl=kl)
    runs = [[rec(i, 8, 0.5, 0.1) for i in range(3)] + [rec(3 + i, 7 + i % 2, 0.9, 0.01 * i) for i in range(5)],
            [rec(i, 6, 0.8, 0.2) for i in range(6)]]
    s = summarize(runs)
    assert s["runs"][0]["its"] == [3, 4, 5, 6, 7]
    assert s["runs"][0]["modes"] == pytest.approx(np.mean([7, 8, 7, 8, 7]))
    assert s["modes"]["mean"] == pytest.approx((7.4 + 6) / 2) and s["modes"]["std"] == pytest.approx(0.7)
    assert s["kl"]["min"] == pytest.approx(0.02) and s["prop_real"]["max"] == pytest.approx(0.9)
    s = summarize(runs, [dict(modes=8, prop_real=0.99, kl=1e-4), dict(modes=8, prop_real=0.98, kl=3e-4)])
    assert s["test_set_kl"]["mean"] == pytest.approx(2e-4) and s["runs"][1]["test_set"]["prop_real"] == 0.98


# === End to end ===


TINY = ["--data_type", "ring", "--npts", "1000", "--train_batch_size", "100", "--test_batch_size", "400",
        "--d_act_dim", "16", "--recluster_every", "50", "--eval_every", "50", "--num_clusters", "10"]


def tiny_options(outdir, nepochs, clusterer="selfcondgan"):
    return cli.build_options(["--clusterer", clusterer, "--outdir", str(outdir), "--nepochs", str(nepochs)] + TINY)


def final_weights(run_dir):
    return [w.numpy() for name in ("generator", "discriminator")
            for w in keras.saving.load_model(os.path.join(run_dir, f"{name}.keras")).weights]


@pytest.mark.slow
def test_tiny_run_writes_outputs_and_resumes_exactly(tmp_path, monkeypatch):
    # Uninterrupted: 20 epochs x 10 iterations.
    full = tiny_options(tmp_path / "a", 20)
    cli.run(full, log=lambda *_: None)
    run_dir = full.run_dir(0)
    records = read_log(os.path.join(run_dir, "log.txt"))
    assert [r["it"] for r in records] == [0, 50, 100, 150]
    assert records[0]["epoch"] == 0 and records[-1]["epoch"] == 15
    for it in (0, 50, 100, 150):
        for name in (f"all/{it}.png", f"all/{it}square.png", f"clusters/{it}.png"):
            assert os.path.getsize(os.path.join(run_dir, name)) > 1000
    assert os.path.exists(os.path.join(run_dir, "snapshots", "ckpt-199.index"))
    assert os.path.exists(os.path.join(run_dir, "snapshots", "clusterer-199.npz"))
    summary = json.load(open(os.path.join(full.exp_dir, "summary.json")))
    assert summary["runs"][0]["its"] == [0, 50, 100, 150] and summary["options"]["nepochs"] == 20
    with np.load(os.path.join(run_dir, "data.npz")) as f:
        x_test = f["x_test"]
    assert summary["test_set_kl"]["mean"] == pytest.approx(
        metrics.percent_good(x_test, data.ring_means(), RING_SIGMA)[2])

    # Interrupted after the log line of it 150 but before its checkpoint, then resumed twice.
    part = tiny_options(tmp_path / "b", 20)
    original_evaluate = Toy2DRun.evaluate

    def crashing_evaluate(self, it, *args):
        line = original_evaluate(self, it, *args)
        if it == 150:
            raise KeyboardInterrupt
        return line

    monkeypatch.setattr(Toy2DRun, "evaluate", crashing_evaluate)
    with pytest.raises(KeyboardInterrupt):
        cli.run(part, log=lambda *_: None)
    monkeypatch.setattr(Toy2DRun, "evaluate", original_evaluate)
    part_dir = part.run_dir(0)
    assert [r["it"] for r in read_log(os.path.join(part_dir, "log.txt"))] == [0, 50, 100, 150]
    messages = []
    cli.run(part, log=messages.append)
    assert any("resuming at iteration 101" in m for m in messages)
    with open(os.path.join(run_dir, "log.txt")) as a, open(os.path.join(part_dir, "log.txt")) as b:
        assert a.read() == b.read()
    for wa, wb in zip(final_weights(run_dir), final_weights(part_dir)):
        np.testing.assert_array_equal(wa, wb)
    with np.load(os.path.join(run_dir, "snapshots", "clusterer-199.npz")) as a, \
            np.load(os.path.join(part_dir, "snapshots", "clusterer-199.npz")) as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    messages = []
    cli.run(part, log=messages.append)  # complete: nothing to do
    assert any("done (200 iterations)" in m for m in messages)


@pytest.mark.slow
@pytest.mark.parametrize("clusterer", ["online", "random_labels", "supervised", "unconditional"])
def test_tiny_runs_of_the_baselines(clusterer, tmp_path):
    o = tiny_options(tmp_path, 6, clusterer)
    cli.run(o, log=lambda *_: None)
    records = read_log(os.path.join(o.run_dir(0), "log.txt"))
    assert [r["it"] for r in records] == [0, 50]
    assert all(np.isfinite(r["dloss"]) and 0 <= r["prop_real"] <= 1 for r in records)
    G = keras.saving.load_model(os.path.join(o.run_dir(0), "generator.keras"))
    assert G.get_layer("embedding").num_labels == o.k


def test_tf_function_retraces_only_once_per_batch_shape():
    G = networks.build_generator(2, act_dim=4)
    D = networks.build_discriminator(2, act_dim=3)
    G_opt, D_opt = TorchAdam(1e-4), TorchAdam(1e-4)
    G_opt.build(G.trainable_variables)
    D_opt.build(D.trainable_variables)
    step = make_train_step(G, D, G_opt, D_opt)
    x = np.zeros((8, 2), np.float32)
    for _ in range(3):
        step(x, np.zeros(8, np.int32), x)
    assert step.experimental_get_tracing_count() == 1
