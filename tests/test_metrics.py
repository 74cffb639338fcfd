"""Metric protocols, run_metrics.py and run_training.py --metrics, with small stand-in feature networks."""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan2.dataset import ImageDataset
from stylegan2.errors import UserError
from stylegan2.metrics import arithmetic, feature_nets, protocols  # noqa: F401  (protocols registers the metrics)
from stylegan2.metrics import cli as metrics_cli
from stylegan2.metrics.runner import MetricContext, run_metrics
from stylegan2.presets import build_networks
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training.snapshot import clone_model, save_snapshot
from stylegan2.training.strategy import mirrored_strategy
from tests.fixtures import one_line_user_error


class StandInInception:
    """Same interface as InceptionGraph: [N,H,W,3] in [0,255] -> {'pool': [N,8], 'logits': [N,10]}."""

    name = "stand-in-inception"
    comparable = True

    def __init__(self, seed=0):
        rnd = np.random.RandomState(seed)
        self.w = tf.constant(rnd.randn(48, 8).astype(np.float32))
        self.v = tf.constant(rnd.randn(48, 10).astype(np.float32))

    def __call__(self, images):
        x = tf.reshape(tf.image.resize(tf.cast(images, tf.float32) / 255.0, [4, 4]), [-1, 48])
        return {"pool": tf.tanh(x @ self.w), "logits": x @ self.v}


class StandInVGG(StandInInception):
    name = "stand-in-vgg16"

    def __call__(self, images):
        return super().__call__(images)["pool"]


def stand_in_lpips(a, b):
    return tf.reduce_mean(tf.square((a - b) / 255.0), axis=[1, 2, 3])


STAND_INS = {"inception": StandInInception(), "vgg16": StandInVGG(1), "lpips": stand_in_lpips}


def intensity_classifier():
    """A 'digit classifier' reading the mean intensity m in [0,1] of a 28x28 digit: argmax_k -(m - k/9)^2,
    written as the linear logits 2km/9 - k^2/81 (the -m^2 term is common to every class)."""
    k = np.arange(10, dtype=np.float32)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([(2 * k / 9)[None, :], -(k ** 2) / 81])
    return model


def write_stacked(path, digits):
    """32x32x3 images whose channel j is the constant intensity digits[:, j] / 9, with 1000-class labels."""
    images = np.broadcast_to((digits * 255 / 9).round().astype(np.uint8)[:, :, None, None], (len(digits), 3, 32, 32))
    with TFRecordExporter(str(path), len(digits), progress=False) as tfr:
        tfr.add_images(np.ascontiguousarray(images))
        tfr.add_labels(np.eye(1000)[digits @ np.array([1, 10, 100])], label_kind="onehot")
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    rnd = np.random.RandomState(0)
    images = (rnd.rand(40, 3, 16, 16) * 255).astype(np.uint8)
    with TFRecordExporter(str(root / "ds"), 40, progress=False) as tfr:
        tfr.add_images(images)
    G, D = build_networks("tiny", 16, 3)
    G_ema = clone_model(G)
    snapshot = str(root / "network-snapshot-000001.keras")
    save_snapshot(snapshot, G, D, G_ema, {"kimg": 1, "dataset": str(root / "ds")})
    return root, G_ema, ImageDataset(str(root / "ds")), snapshot


def context(setup, tmp_path, **kwargs):
    _, G, dataset, _ = setup
    kwargs.setdefault("networks", STAND_INS)
    return MetricContext(G, dataset, cache_dir=str(tmp_path / "cache"), batch_size=8, num_images=24, **kwargs)


def test_fid_kid_is_pr_equal_a_direct_computation_on_the_same_images(setup, tmp_path):
    ctx = context(setup, tmp_path)
    results = run_metrics(ctx, ["fid50k", "kid50k", "is50k", "pr50k3"], run_dir=str(tmp_path), log=lambda _: None)
    real_images = np.concatenate([r.numpy() for r in ctx.reals(24)])
    fake_images = np.concatenate([f.numpy() for f in ctx.generated(24)])
    assert real_images.shape == fake_images.shape == (24, 16, 16, 3)

    def feats(images, net, key=None):
        out = net(tf.cast(tf.saturate_cast(images * 127.5 + 128, tf.uint8), tf.float32))
        return np.asarray(out[key] if key else out)

    inc, vgg = STAND_INS["inception"], STAND_INS["vgg16"]
    expected_fid = arithmetic.fid_from_activations(feats(real_images, inc, "pool"), feats(fake_images, inc, "pool"))
    np.testing.assert_allclose(results["fid50k"], expected_fid, rtol=1e-4)
    kid, _ = arithmetic.kid_from_activations(feats(real_images, inc, "pool"), feats(fake_images, inc, "pool"))
    np.testing.assert_allclose(results["kid50k"], kid, rtol=1e-4, atol=1e-7)
    score, _ = arithmetic.inception_score_from_logits(feats(fake_images, inc, "logits"), num_splits=10)
    np.testing.assert_allclose(results["is50k"], score, rtol=1e-4)
    precision, recall = arithmetic.precision_recall(feats(real_images, vgg), feats(fake_images, vgg), k=3)
    assert (results["pr50k3_precision"], results["pr50k3_recall"]) == (precision, recall)
    record = json.loads(open(tmp_path / "metric-fid50k.jsonl").read().splitlines()[0])
    assert record["results"] == {"fid50k": results["fid50k"]} and record["feature_network"] == "stand-in-inception"
    assert record["num_images_limit"] == 24 and record["comparable"] is True


def test_real_statistics_are_cached_by_dataset_content(setup, tmp_path):
    first = run_metrics(context(setup, tmp_path), ["fid50k"], log=lambda _: None)["fid50k"]
    assert len(glob.glob(str(tmp_path / "cache" / "*-ds.npz"))) == 1
    ctx = context(setup, tmp_path)
    ctx.reals = lambda num: (_ for _ in ()).throw(AssertionError("reals read despite the cache"))
    assert run_metrics(ctx, ["fid50k"], log=lambda _: None)["fid50k"] == first


def test_fid_of_the_dataset_against_itself_is_zero(setup, tmp_path):
    ctx = context(setup, tmp_path)
    ctx.G = None
    assert abs(run_metrics(ctx, ["fid50k"], log=lambda _: None)["fid50k"]) < 1e-6


def test_two_replicas_generate_the_same_images_as_one_device(setup, tmp_path):
    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"])
    one = np.concatenate([b.numpy() for b in context(setup, tmp_path).generated(20)])
    two = np.concatenate([b.numpy() for b in context(setup, tmp_path, strategy=strategy).generated(20)])
    assert one.shape == two.shape == (20, 16, 16, 3)
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_ppl_runs_with_lpips_and_keeps_the_1_to_99_percentiles(setup, tmp_path):
    results = run_metrics(context(setup, tmp_path), ["ppl_zfull", "ppl_wend"], log=lambda _: None)
    assert set(results) == {"ppl_zfull", "ppl_wend"} and all(np.isfinite(v) and v >= 0 for v in results.values())


def test_mode_counts_and_kl_of_stacked_data_are_exact(tmp_path):
    rnd = np.random.RandomState(0)
    full = write_stacked(tmp_path / "full", rnd.randint(0, 10, size=(300, 3)))
    restricted = rnd.randint(0, 10, size=(200, 3))
    restricted[:, 2] = 0  # labels d0 + 10 d1 < 100
    small = write_stacked(tmp_path / "small", restricted)
    for path in (full, small):
        dataset = ImageDataset(path)
        ctx = MetricContext(None, dataset, classifier=intensity_classifier(), cache_dir=str(tmp_path), batch_size=64)
        results = run_metrics(ctx, ["mode_counts_24k", "KL24k", "modes_rkl_50k"], log=lambda _: None)
        labels = dataset.class_numbers()
        assert results["mode_counts_24k"] == results["modes50k"] == len(np.unique(labels))
        np.testing.assert_allclose(results["KL24k"], arithmetic.kl_to_uniform(labels, 1000), rtol=1e-12)
        np.testing.assert_allclose(results["rkl50k"], results["KL24k"] / np.log(10), rtol=1e-12)
    assert results["mode_counts_24k"] <= 100


def test_confident_mode_counts_leave_out_ambiguous_digits(tmp_path):
    """Channels at a digit's intensity are read with confidence ~1, channels halfway between two digits ~0.5; only
    samples with three confident digits count as modes, and the rest is reported as the unconfident fraction."""
    rnd = np.random.RandomState(1)
    digits = rnd.randint(0, 9, size=(120, 3)).astype(np.float64)
    blurred = rnd.rand(120) < 0.4
    digits[blurred, rnd.randint(0, 3, size=blurred.sum())] += 0.5  # one channel between digit d and d + 1
    images = np.broadcast_to((digits * 255 / 9).round().astype(np.uint8)[:, :, None, None], (120, 3, 32, 32))
    with TFRecordExporter(str(tmp_path / "ds"), 120, progress=False) as tfr:
        tfr.add_images(np.ascontiguousarray(images))
    classifier = intensity_classifier()
    weights, bias = classifier.layers[-1].get_weights()
    classifier.layers[-1].set_weights([weights * 1000, bias * 1000])  # margins of ~12 logits between digits
    ctx = MetricContext(None, ImageDataset(str(tmp_path / "ds")), classifier=classifier, cache_dir=str(tmp_path),
                        batch_size=64)
    results = run_metrics(ctx, ["mode_counts_confident_24k", "mode_counts_24k"], log=lambda _: None)
    sure = digits[~blurred].astype(np.int64)
    assert results["mode_counts_confident_24k"] == len(np.unique(sure @ np.array([1, 10, 100])))
    assert results["confident_fraction_24k"] == pytest.approx(np.mean(~blurred))
    assert results["mode_counts_24k"] > results["mode_counts_confident_24k"]


def test_run_metrics_cli_over_a_run_directory(setup, tmp_path, monkeypatch, capsys):
    root, _, _, snapshot = setup
    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, path=None: STAND_INS[name])
    run_dir, results = metrics_cli.main.__wrapped__(
        ["--metrics", "fid50k,pr50k3", "--network", str(root), "--metrics-num-images", "16",
         "--result-dir", str(tmp_path / "r")])
    assert os.path.basename(run_dir) == "00000-run-metrics" and list(results) == [snapshot]
    assert set(results[snapshot]) == {"fid50k", "pr50k3_precision", "pr50k3_recall"}
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "network-snapshot-000001.keras" in log and "fid50k" in log and "[at most 16 images]" in log
    for name in ("fid50k", "pr50k3"):
        record = json.loads(open(os.path.join(run_dir, f"metric-{name}.jsonl")).read())
        assert record["snapshot"] == snapshot and record["kimg"] == 1


def test_run_metrics_bad_input_is_one_line(setup, tmp_path, monkeypatch):
    root, _, _, snapshot = setup
    monkeypatch.setenv("STYLEGAN2_OFFLINE", "1")
    monkeypatch.setenv("STYLEGAN2_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("STYLEGAN2_WEIGHTS_DIR", raising=False)
    result_dir = str(tmp_path / "r")
    one_line_user_error(metrics_cli.main.__wrapped__, ["--metrics", "fid50k", "--network", snapshot, "--result-dir", result_dir],
                        "classify_image_graph_def.pb")
    one_line_user_error(metrics_cli.main.__wrapped__, ["--metrics", "fid51k", "--network", snapshot], "unknown metric", "fid51k")
    one_line_user_error(metrics_cli.main.__wrapped__, ["--metrics", "KL24k", "--network", snapshot, "--result-dir", result_dir],
                        "stacked_mnist_digits.keras", "python -m stylegan2.metrics.digit_classifier")
    one_line_user_error(metrics_cli.main.__wrapped__, ["--network", str(tmp_path / "nothing")], "no such snapshot")
    assert [e for e in os.listdir(result_dir) if not e.startswith(".")] == []  # no run-metrics directory is left behind by a failed run


def test_training_computes_metrics_at_snapshots(setup, tmp_path, monkeypatch):
    from stylegan2.training import cli as training_cli

    root = setup[0]
    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, path=None: STAND_INS[name])
    run_dir = training_cli.main.__wrapped__(
        ["--data-dir", str(root), "--dataset", "ds", "--config", "tiny", "--total-kimg", "0.032", "--batch", "8",
         "--kimg-per-tick", "0.016", "--snapshot-ticks", "1", "--grid", "2x2", "--metrics", "fid50k",
         "--metrics-num-images", "16", "--result-dir", str(tmp_path / "r")])
    lines = open(os.path.join(run_dir, "metric-fid50k.jsonl")).read().splitlines()
    assert [json.loads(line)["kimg"] for line in lines] == [0.016, 0.032]
    assert open(os.path.join(run_dir, "log.txt")).read().count("fid50k") >= 2
    options = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert options["metrics"] == ["fid50k"] and options["metric_settings"]["num_images"] == 16


def test_generated_for_one_class_of_a_conditional_generator_and_of_the_reals(tmp_path):
    """MetricContext.generated(num, class_idx=k): every label the one-hot of class k (per-class metrics); with
    G = None the dataset's records of class k; a class out of range is one line."""
    labels = np.arange(20) % 10
    images = np.broadcast_to((labels * 25).astype(np.uint8)[:, None, None, None], (20, 1, 16, 16))
    with TFRecordExporter(str(tmp_path / "ds"), 20, progress=False) as tfr:
        tfr.add_images(np.ascontiguousarray(images))
        tfr.add_labels(np.eye(10)[labels], label_kind="onehot")
    dataset = ImageDataset(str(tmp_path / "ds"))
    G, _ = build_networks("tiny", 16, 1, c_dim=10)
    ctx = MetricContext(G, dataset, batch_size=8)
    batch = next(ctx.generated(4, seed_offset=2, class_idx=6))
    z = np.random.RandomState(2).randn(8, G.z_dim).astype(np.float32)
    np.testing.assert_allclose(batch, G(z, np.eye(10, dtype=np.float32)[[6] * 8])[:4], atol=1e-5)
    reals = np.concatenate(list(MetricContext(None, dataset, batch_size=8).generated(5, class_idx=4)))
    assert reals.shape == (2, 16, 16, 1) and np.allclose(reals, 100 / 127.5 - 1, atol=1e-6)  # class 4's 2 records
    with pytest.raises(UserError, match="class 10: out of range; the network has 10 classes"):
        next(ctx.generated(4, class_idx=10))
