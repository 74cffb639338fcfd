"""`--method selfcond` on the training loop: options and presets, labels of real batches against an independent
NumPy labelling, the mask head, 1 device == 2 replicas, exact resume after a re-clustering, the baselines, and
snapshots sampled by run_generator.py (`--cluster`) and measured by run_metrics.py (cluster metrics).

The clusterers themselves (k-means++ n_init 10, the warm start as the original builds it, Hungarian matching that
recovers permuted features, empty clusters) are tested against transcriptions of the original in
tests/test_selfcond_clustering.py.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import normalized_mutual_info_score

from selfcond.features import CLUSTER_SET_FILE, to_float_images
from selfcond.method import SelfCondMethod
from stylegan2.errors import UserError
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.snapshot import load_snapshot, open_for_sampling, read_metadata
from stylegan2.training.strategy import mirrored_strategy

NUM, CLASSES = 64, 4


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """64 8x8 RGB images in 4 classes of distinct brightness (one-hot labels), so D's features separate them."""
    root = tmp_path_factory.mktemp("selfcond")
    rnd = np.random.RandomState(0)
    classes = np.arange(NUM) % CLASSES
    base = (40 + 60 * classes)[:, None, None, None]
    images = np.clip(base + rnd.randint(-20, 20, size=(NUM, 3, 8, 8)), 0, 255).astype(np.uint8)
    with TFRecordExporter(str(root / "ds"), NUM, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(np.eye(CLASSES)[classes], label_kind="onehot")
    return str(root)


def argv(data_dir, tmp_path, *extra):
    """A tiny run: k = 4 clusters of a 32-image cluster set, re-clustered every 2 iterations, 2 iterations a tick."""
    k = [] if {"supervised", "unconditional"} & set(extra) or "--k" in extra else ["--k", "4"]
    return ["--method", "selfcond", "--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--batch", "8",
            "--kimg-per-tick", "0.016", "--grid", "4x2", "--result-dir", str(tmp_path / "results"), *k,
            "--cluster-images", "32", "--recluster-every", "2", *extra]


def make_loop(data_dir, tmp_path, *extra, strategy=None, mbstd=1):
    options, _ = cli.build_options(argv(data_dir, tmp_path, *extra))
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": mbstd}}
    loop = TrainingLoop(options, strategy=strategy)
    loop._open_run_dir()
    loop.prepare()
    loop.method.on_start(loop)
    return loop


def numpy_labels(loop, images):
    """mapping[nearest centroid] of the frozen D's features of each image alone, in float64 NumPy."""
    m = loop.method
    feats = np.concatenate([np.asarray(m.cluster_D.features(to_float_images(images[i:i + 1]))) for i in
                            range(len(images))]).astype(np.float64)
    c = m.clusterer
    dist = ((feats[:, None, :] - np.asarray(c.centroids, np.float64)[None]) ** 2).sum(-1)
    return c.mapping[np.argmin(dist, axis=1)]


# === Options ===


def test_presets_defaults_and_validation(tmp_path):
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "stacked_mnist_240k"])
    m = options.method_options
    assert (m["dataset_preset"], m["k"], m["cluster_images"], m["recluster_every"]) == ("stacked_mnist", 100, 25000,
                                                                                         25000)
    assert m["clusterer"] == "selfcondgan" and m["initialization"] and m["matching"] and m["burnin"] == 0
    assert options.hparams["r1_gamma"] == 10.0  # the config's R1 at 32 px
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "imagenet_128", "--k", "50"])
    m = options.method_options
    assert (m["dataset_preset"], m["k"], m["cluster_images"], m["recluster_every"]) == ("imagenet", 50, 50000, 75000)
    assert options.hparams["r1_gamma"] == pytest.approx(0.2)  # the original's reg_param 0.1, without its 1/2
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "places365", "--gamma", "3",
                                    "--dataset-preset", "cifar", "--clusterer", "online"])
    assert options.method_options["cluster_images"] == 25000 and options.hparams["r1_gamma"] == 3
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "x", "--clusterer", "unconditional"])
    assert options.method_options["k"] == 1
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "x", "--clusterer", "supervised"])
    assert options.method_options["k"] is None
    for extra, message in (
            (["--cond", "true"], "--cond=true: --method selfcond conditions G and D on clusters"),
            (["--k", "0"], "--k 0: must be at least 1"),
            (["--embed-dim", "0"], "--embed-dim 0: must be at least 1"),
            (["--recluster-every", "0"], "--recluster-every 0: must be at least 1"),
            (["--burnin", "-1"], "--burnin -1: must be at least 0"),
            (["--k", "10", "--cluster-images", "5"], "--cluster-images 5: k-means needs at least --k 10 images"),
            (["--clusterer", "supervised", "--k", "5"], "--k 5: the supervised clusterer has one label per class"),
            (["--clusterer", "unconditional", "--k", "5"], "--k 5: the unconditional clusterer has one cluster"),
            (["--clusterer", "kmeans"], "argument --clusterer: invalid choice"),
            (["--d-conditioning", "concat"], "argument --d-conditioning: invalid choice")):
        with pytest.raises(UserError, match=message):
            cli.build_options(["--method", "selfcond", "--dataset", "x", *extra])
    help_text = cli.build_parser().format_help()
    assert "(--method selfcond):" in help_text and "--recluster-every" in help_text and "--cluster-images" in help_text


def test_augmentation_policy_options():
    """The original's data.deterministic: its Stacked MNIST loader neither flips nor adds noise, its CIFAR, ImageNet
    and Places loaders do both; --mirror-augment given explicitly wins; flips with deterministic are refused."""
    def policy(*extra):
        options, _ = cli.build_options(["--method", "selfcond", *extra])
        return options.mirror_augment, options.method_options["deterministic_augment"]

    assert policy("--dataset", "stacked_mnist_240k") == (False, True)
    assert policy("--dataset", "cifar10") == (True, False)
    assert policy("--dataset", "places365", "--deterministic-augment", "true") == (False, True)
    assert policy("--dataset", "x", "--deterministic-augment", "false") == (True, False)
    assert policy("--dataset", "cifar10", "--mirror-augment", "false") == (False, False)  # noise without flips
    assert policy("--dataset", "x", "--mirror-augment", "true") == (True, True)  # flips without noise
    with pytest.raises(UserError, match="--deterministic-augment=true and --mirror-augment=true: deterministic"):
        policy("--dataset", "x", "--deterministic-augment", "true", "--mirror-augment", "true")
    options, _ = cli.build_options(["--dataset", "cifar10"])
    assert options.mirror_augment is False  # the backbone's default is unchanged


def expected_noise(shape, seed, stream, position):
    """The documented stream: NumPy PCG64 seeded with [seed, stream, position], U[0,1) float32 scaled by 1/128."""
    return np.random.default_rng([seed, stream, position]).random(shape, dtype=np.float32) / np.float32(128)


def test_dequantisation_noise_on_the_reals_the_labelled_batch_and_the_cluster_set(data_dir, tmp_path, monkeypatch):
    """--deterministic-augment false: the original's `x + 1/128 * rand` on [-1,1] images, on the reals D sees (and
    R1), on the batch that is labelled (the original labels the augmented batch) and, fixed for the run, on the
    cluster set; the noise is a function of the seed and the stream position (resume stays exact)."""
    loop = make_loop(data_dir, tmp_path, "--deterministic-augment", "false")
    m, seed = loop.method, loop.options.seed
    assert loop.options.mirror_augment
    raw = [b[0].numpy() for _, b in zip(range(3), loop.dataset.pipeline(8, mirror=True, seed=seed))]
    labelled = []
    get_labels = m.clusterer.get_labels
    monkeypatch.setattr(m.clusterer, "get_labels", lambda x, y=None: labelled.append(np.array(x)) or get_labels(x, y))
    (y_g,) = m.phase_inputs("G_main", loop)
    reals, y_real, _, _ = m.phase_inputs("D_main", loop)
    reals = np.asarray(reals)
    noise = reals - raw[0]
    assert noise.min() >= 0 and noise.max() < 1 / 128 and noise.std() > 1e-3
    np.testing.assert_array_equal(reals, raw[0] + expected_noise(reals.shape, seed, 0, 0))
    np.testing.assert_array_equal(labelled[0], reals)
    assert np.array_equal(np.asarray(y_g), numpy_labels(loop, reals))
    assert np.array_equal(np.asarray(y_real), np.asarray(y_g))
    reg_reals, _, _ = m.phase_inputs("D_reg", loop)  # D_reg's own batch: the next 8 images of the stream
    np.testing.assert_array_equal(np.asarray(reg_reals), raw[1] + expected_noise(reals.shape, seed, 0, 8))

    fed = []
    frozen = m.features.frozen
    monkeypatch.setattr(m.features, "frozen", lambda x: fed.append(np.array(x)) or frozen(x))
    m.recluster(loop)
    with np.load(os.path.join(loop.run_dir, CLUSTER_SET_FILE)) as f:
        images = f["images"]
    assert images.dtype == np.uint8  # stored as pixels; the noise is drawn again, the same, from the seed
    expected = to_float_images(images) + np.stack([expected_noise(images.shape[1:], seed, 1, i) for i in range(32)])
    np.testing.assert_array_equal(np.concatenate(fed), expected)


# === Networks, labels, phases ===


def test_networks_labels_and_the_mask_head(data_dir, tmp_path):
    loop = make_loop(data_dir, tmp_path)
    m = loop.method
    assert loop.G.c_dim == 4 and loop.G.mapping.label_embed == "dense" and loop.D.head == "multi_logit"
    assert loop.G.mapping.embed.units == loop.G.w_dim  # no --embed-dim: the backbone's width, w_dim
    assert loop.D.out.units == 4 and m.cluster_D.name == "cluster_discriminator"
    # The cluster set: the first 32 images of the shuffled stream, saved with the run.
    with np.load(os.path.join(loop.run_dir, CLUSTER_SET_FILE)) as f:
        images, indices = f["images"], f["indices"]
    assert images.shape == (32, 8, 8, 3) and images.dtype == np.uint8 and len(set(indices)) == 32
    # The first clustering ran on the untrained D: k-means++ finds the 4 brightness classes.
    c = m.clusterer
    truth = loop.dataset.class_numbers()[indices]
    assert normalized_mutual_info_score(truth, c.x_labels) == pytest.approx(1.0)
    assert np.array_equal(c.x_labels, numpy_labels(loop, images))
    np.testing.assert_allclose(m.probs.numpy(), np.bincount(c.x_labels, minlength=4) / 32, rtol=1e-6)

    # This iteration's reals are labelled on the host: G_main gets the global labels, D_main the same reals with
    # the same labels (per replica) and the same vector for its fakes.
    (y_g,) = m.phase_inputs("G_main", loop)
    reals, y_real, indices, y_fakes = m.phase_inputs("D_main", loop)
    reals = np.asarray(reals)
    expected = numpy_labels(loop, reals)
    assert np.array_equal(np.asarray(y_g), expected) and np.array_equal(np.asarray(y_real), expected)
    assert np.array_equal(np.asarray(y_fakes), expected)
    assert loop.reals_consumed == 8  # one real batch per iteration, as the loop's own D_main takes

    # The mask head: the logit of each image's own cluster.
    onehot = np.eye(4, dtype=np.float32)[expected]
    logits = np.asarray(loop.D.out(loop.D.features(reals)))
    np.testing.assert_allclose(np.asarray(m.discriminate(loop.D, reals, onehot))[:, 0],
                               logits[np.arange(8), expected], rtol=1e-5, atol=1e-6)


def test_frozen_features_until_the_next_recluster(data_dir, tmp_path):
    """Between re-clusterings labels come from the frozen copy (training D changes, labels do not); a re-clustering
    copies D into it and re-fits (with warm start and matching, labels of separated classes stay put)."""
    loop = make_loop(data_dir, tmp_path)
    m = loop.method
    with np.load(os.path.join(loop.run_dir, CLUSTER_SET_FILE)) as f:
        images = f["images"]
    before = m.clusterer.get_labels(images)
    frozen = [np.array(w) for w in m.cluster_D.weights]
    for _ in range(2):
        loop.train_iteration()
        m.on_step(loop)  # it = 0, 1: no re-clustering yet
    assert all(np.array_equal(a, np.array(w)) for a, w in zip(frozen, m.cluster_D.weights))
    assert not all(np.array_equal(a, np.array(w)) for a, w in zip(frozen, loop.D.weights))
    assert np.array_equal(m.clusterer.get_labels(images), before)
    loop.train_iteration()
    m.on_step(loop)  # it = 2: re-cluster
    assert all(np.array_equal(np.array(a), np.array(b)) for a, b in zip(m.cluster_D.weights, loop.D.weights))
    assert np.array_equal(m.clusterer.x_labels, before)


def _three_steps(data_dir, tmp_path, strategy, *extra):
    loop = make_loop(data_dir, tmp_path, "--mirror-augment", "true", *extra, strategy=strategy)
    stats = []
    for _ in range(3):
        stats.append(loop.train_iteration())
        loop.method.on_step(loop)
    return loop, stats


@pytest.mark.parametrize("rounds,extra", [(1, ()), (2, ()), (2, ("--deterministic-augment", "false"))])
def test_one_device_equals_two_replicas(data_dir, tmp_path, rounds, extra):
    """Labels are computed on the host for the global batch, so 1 device and 2 replicas take the same steps, also in
    gradient accumulation rounds (where a replica's reals and the latents drawn for it are different rows of the
    global batch): every fake gets its latent and its label by its row; with dequantisation noise too (drawn for
    the global batch, then split). Minibatch std is off, as in the backbone's test (its grouping depends on the
    per-device batch by definition)."""
    single, single_stats = _three_steps(data_dir, tmp_path / "one", tf.distribute.get_strategy(),
                                        "--batch-gpu", str(8 // rounds), *extra)
    double, double_stats = _three_steps(data_dir, tmp_path / "two", mirrored_strategy(["/cpu:0", "/cpu:1"]),
                                        "--batch-gpu", str(4 // rounds), *extra)
    assert double.strategy.num_replicas_in_sync == 2
    for a, b in zip(single_stats, double_stats):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_allclose(a[name][0] / a[name][1], b[name][0] / b[name][1], rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    for model in ("G", "D", "G_ema"):
        for wa, wb in zip(getattr(single, model).weights, getattr(double, model).weights):
            np.testing.assert_allclose(np.array(wa), np.array(wb), rtol=1e-4, atol=1e-4, err_msg=model)
    np.testing.assert_array_equal(single.method.clusterer.x_labels, double.method.clusterer.x_labels)


def checkpoint_values(run_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints")))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") and "save_counter" not in name}


@pytest.mark.slow
@pytest.mark.parametrize("clusterer,augment", [("selfcondgan", "true"), ("online", "true"), ("selfcondgan", "false")])
def test_resume_after_a_reclustering_continues_exactly(data_dir, tmp_path, clusterer, augment):
    """Stopped after the re-clustering at it = 2 and resumed, a run ends as the uninterrupted one: weights,
    optimizers, the clusterer's state (centroids, mapping, cluster-set labels, random generator) and frozen D; also
    with the original's flips and dequantisation noise (--deterministic-augment false)."""
    extra = ["--clusterer", clusterer, "--snapshot-ticks", "2", "--deterministic-augment", augment]
    whole = cli.main.__wrapped__(argv(data_dir, tmp_path / "whole", *extra, "--total-kimg", "0.064"))
    part = cli.main.__wrapped__(argv(data_dir, tmp_path / "part", *extra, "--total-kimg", "0.032"))
    log = open(os.path.join(part, "log.txt")).read()
    if clusterer == "selfcondgan":
        assert "Re-clustered 32 images at iteration 3" in log
    cli.main.__wrapped__(["--resume", part, "--total-kimg", "0.064"])
    log = open(os.path.join(part, "log.txt")).read()
    assert "Resumed from the checkpoint at kimg 0.0 (iteration 4)" in log
    a, b = checkpoint_values(whole), checkpoint_values(part)
    assert a.keys() == b.keys()
    assert any("clusterer_state" in name for name in a) and any("cluster_D" in name for name in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# === Baselines ===


def test_supervised_random_unconditional_and_online(data_dir, tmp_path):
    loop = make_loop(data_dir, tmp_path / "sup", "--clusterer", "supervised")
    assert loop.G.c_dim == CLASSES
    (y,) = loop.method.phase_inputs("G_main", loop)
    _, _, indices, _ = loop.method.phase_inputs("D_main", loop)
    assert np.array_equal(np.asarray(y), loop.dataset.class_numbers()[np.asarray(indices)])
    assert loop.method.sampling_metadata(loop) == {"labels": "uniform", "clusterer": "supervised"}
    assert not os.path.exists(os.path.join(loop.run_dir, CLUSTER_SET_FILE))

    loop = make_loop(data_dir, tmp_path / "random", "--clusterer", "random_labels", "--k", "50")
    m = loop.method
    draws = [np.asarray(m.phase_inputs("G_main", loop)[0]) for _ in range(20)]
    assert np.unique(np.concatenate(draws)).size > 40  # fresh uniform labels per batch
    state = m._state_variable().numpy()
    m.on_step(loop)
    assert m._state_variable().numpy() != state  # the generator's state moves with every batch: checkpointed

    loop = make_loop(data_dir, tmp_path / "uncond", "--clusterer", "unconditional")
    assert loop.G.c_dim == 1 and loop.D.out.units == 1
    assert np.array_equal(np.asarray(loop.method.phase_inputs("G_main", loop)[0]), np.zeros(8))

    loop = make_loop(data_dir, tmp_path / "online", "--clusterer", "online", "--recluster-every", "1")
    m = loop.method
    for _ in range(4):
        loop.train_iteration()
        m.on_step(loop)
    assert m.clusterer.burned_in and m.clusterer.counts.sum() == 16  # MacQueen updates on 2 batches of 8


def test_ablation_switches_and_projection_head(data_dir, tmp_path):
    loop = make_loop(data_dir, tmp_path, "--initialization", "false", "--matching", "false", "--d-conditioning",
                     "projection")
    assert not loop.method.clusterer.initialization and not loop.method.clusterer.matching
    assert loop.D.head == "cmap"
    reals = np.zeros([2, 8, 8, 3], np.float32)
    onehot = np.eye(4, dtype=np.float32)[[0, 3]]
    np.testing.assert_allclose(np.asarray(loop.method.discriminate(loop.D, reals, onehot)),
                               np.asarray(loop.D(reals, onehot)))


# === Snapshots: generation and metrics ===


@pytest.fixture(scope="module")
def trained_run(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("selfcond-run")
    run_dir = cli.main.__wrapped__(argv(data_dir, tmp, "--total-kimg", "0.032", "--snapshot-ticks", "2",
                                        "--embed-dim", "6"))
    return run_dir, os.path.join(run_dir, "network-snapshot-000000.032.keras")


def test_snapshot_records_the_empirical_distribution_and_the_clusters(trained_run):
    run_dir, path = trained_run
    meta = read_metadata(path)
    snap = load_snapshot(path)
    arrays = snap.extras["clusters"].arrays()
    counts = np.bincount(arrays["x_labels"], minlength=4)
    assert meta["sampling"]["labels"] == "empirical" and meta["sampling"]["clusterer"] == "selfcondgan"
    np.testing.assert_allclose(meta["sampling"]["probs"], counts / counts.sum())
    assert arrays["centroids"].shape == (4, snap.D.fmaps(0)) and sorted(arrays["mapping"]) == [0, 1, 2, 3]
    assert snap.extras["cluster_D"].name == "cluster_discriminator" and int(arrays["live_features"]) == 0
    assert "-selfcondgan-k4" in os.path.basename(run_dir)

    _, G, sampling = open_for_sampling(path, {"cluster": 2})
    assert G.mapping.embed.units == 6 and G.mapping.fcs[0].weight.shape[0] == G.z_dim + 6  # --embed-dim, rebuilt
    np.testing.assert_array_equal(sampling.labels_for_keys(None, [0, 1, 2]), np.eye(4)[[2, 2, 2]])
    np.testing.assert_array_equal(sampling.labels_batch(3, np.random.RandomState(0)), np.eye(4)[[2, 2, 2]])
    with pytest.raises(UserError, match=r"^--class 1 and --cluster 2: give one of them$"):
        sampling.labels_for_keys(1, [0])
    with pytest.raises(UserError, match=r"^--cluster 4: out of range; this network has 4 clusters \(0..3\)$"):
        open_for_sampling(path, {"cluster": 4})
    _, _, sampling = open_for_sampling(path)
    rnd = np.random.RandomState(5)
    drawn = sampling.labels_batch(4000, rnd).argmax(1)
    np.testing.assert_allclose(np.bincount(drawn, minlength=4) / 4000, counts / counts.sum(), atol=0.03)


def test_run_generator_cluster_flag(trained_run, tmp_path):
    from stylegan2 import generate

    run_dir, path = trained_run
    outdir = generate.run(["generate-images", f"--network={path}", "--seeds=0-1", "--cluster=3", "--truncation-psi=1",
                           "--noise-mode=const", f"--result-dir={tmp_path}"])
    assert sorted(os.listdir(outdir)) == ["seed0000.png", "seed0001.png"]
    with pytest.raises(UserError, match="--cluster 9: out of range"):
        generate.run(["generate-images", f"--network={path}", "--seeds=0", "--cluster=9",
                      f"--result-dir={tmp_path}"])


def test_cluster_metrics_over_a_snapshot(trained_run, data_dir, tmp_path):
    from stylegan2.metrics import cli as metrics_cli

    run_dir, path = trained_run
    _, results = metrics_cli.main.__wrapped__(["--metrics=cluster_metrics,cluster_metrics_random", f"--network={path}",
                                               f"--result-dir={tmp_path}"])
    values = results[path]
    snap = load_snapshot(path)
    arrays = snap.extras["clusters"].arrays()
    from selfcond.features import feature_function
    from stylegan2.dataset import ImageDataset

    dataset = ImageDataset(os.path.join(data_dir, "ds"))
    images = np.concatenate([b for b, _, _ in dataset.iterate_numpy(batch_size=64)])
    feats = feature_function(snap.extras["cluster_D"])(images).astype(np.float64)
    dist = ((feats[:, None] - arrays["centroids"][None]) ** 2).sum(-1)
    predicted = arrays["mapping"][np.argmin(dist, axis=1)]
    truth = dataset.class_numbers()
    assert values["cluster_nmi"] == pytest.approx(normalized_mutual_info_score(truth, predicted))
    table = np.zeros((CLASSES, 4))
    np.add.at(table, (truth, predicted), 1)
    assert values["cluster_purity"] == pytest.approx(table.max(axis=0).sum() / NUM)
    assert values["cluster_purity_swapped"] == pytest.approx(table.max(axis=1).sum() / NUM)
    assert 0 <= values["cluster_nmi_random"] < 0.3
    with pytest.raises(UserError, match="cluster_metrics: needs a snapshot of --method selfcond"):
        metrics_cli.main.__wrapped__(["--metrics=cluster_metrics", "--network=reals", "--data-dir", data_dir,
                                      "--dataset", "ds", f"--result-dir={tmp_path}"])


def test_metrics_during_training_see_each_snapshot_as_saved(data_dir, tmp_path):
    """The loop's metrics at a snapshot equal run_metrics.py on that saved snapshot: its clusters (centroids of the
    D frozen at the last re-clustering), its label distribution, its metadata; not the first snapshot's."""
    import json

    from stylegan2.metrics import cli as metrics_cli
    from stylegan2.metrics.registry import register_metric

    register_metric("test-snapshot-record", lambda ctx: ({
        "snapshot_kimg": float(ctx.snapshot.metadata["kimg"]),
        "label_p0": float(ctx.sampling.probs[0])}, {}))
    run_dir = cli.main.__wrapped__(argv(data_dir, tmp_path, "--total-kimg", "0.08", "--snapshot-ticks", "1",
                                        "--metrics", "cluster_metrics,test-snapshot-record"))
    during = {name: [json.loads(line) for line in open(os.path.join(run_dir, f"metric-{name}.jsonl"))]
              for name in ("cluster_metrics", "test-snapshot-record")}
    assert len(during["cluster_metrics"]) == 5
    for clusters, record in zip(during["cluster_metrics"], during["test-snapshot-record"]):
        path = clusters["snapshot"]
        meta = read_metadata(path)
        assert record["results"]["snapshot_kimg"] == pytest.approx(meta["kimg"]) == pytest.approx(clusters["kimg"])
        assert record["results"]["label_p0"] == pytest.approx(meta["sampling"]["probs"][0])
        _, results = metrics_cli.main.__wrapped__(["--metrics=cluster_metrics", f"--network={path}",
                                                   f"--result-dir={tmp_path / 'after'}"])
        assert clusters["results"] == pytest.approx(results[path])


def test_visualize_clusters_writes_grids_and_a_gallery(trained_run, data_dir, tmp_path):
    """Per cluster, 20 samples from seeds 0..19 (the same z for every cluster) and its first real members, as
    training labels them; index.html lists them all."""
    import json
    import PIL.Image

    from selfcond import gallery
    from selfcond.cluster_metrics import label_images
    from stylegan2.dataset import ImageDataset
    from stylegan2.generate import map_latents, seed_inputs, synthesize

    run_dir, path = trained_run
    page = gallery.main.__wrapped__(["--network", path, "--result-dir", str(tmp_path), "--real-images", "40"])
    outdir = os.path.dirname(page)
    assert os.path.basename(outdir) == "00000-visualize-clusters"
    snap = load_snapshot(path)
    arrays = snap.extras["clusters"].arrays()
    dataset = ImageDataset(os.path.join(data_dir, "ds"))
    images = np.concatenate([b for b, _, _ in dataset.iterate_numpy(batch_size=64)])[:40]
    labels = label_images(snap.extras["cluster_D"], arrays["centroids"], arrays["mapping"], [images])
    _, G, sampling = open_for_sampling(path)
    z, _ = seed_inputs(G, range(20), noise_mode="const")
    for i in range(4):
        gen = np.asarray(PIL.Image.open(os.path.join(outdir, f"{i}_gen.png")))
        assert gen.shape == (5 * 8, 4 * 8, 3)  # 20 images, 4 per row
        expected = synthesize(G, map_latents(G, z, np.eye(4, dtype=np.float32)[[i] * 20]), None, "const")
        np.testing.assert_array_equal(gen[8:16, 8:16], expected[5])  # row 1, column 1: seed 5
        members = np.rint((images[labels == i] + 1) * 127.5).astype(np.uint8)
        real = np.asarray(PIL.Image.open(os.path.join(outdir, f"{i}_real.png")))
        np.testing.assert_array_equal(real[:8, :8], members[0])
        assert real.shape[0] == 8 * -(-min(len(members), 20) // 4)
    listed = json.loads(open(page).read().split("var IMAGES = ")[1].split(";\n")[0])
    assert [e["file"] for e in listed] == [f"{i}_{kind}.png" for i in range(4) for kind in ("gen", "real")]
    with pytest.raises(UserError, match="--clusters: 7 is out of range"):
        gallery.main.__wrapped__(["--network", path, "--result-dir", str(tmp_path), "--clusters", "0,7"])
    assert [d for d in os.listdir(tmp_path) if not d.startswith(".")] == ["00000-visualize-clusters"]  # none left
