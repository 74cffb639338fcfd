"""Mixed precision (--precision bf16|fp16|auto, --fp16-res): what computes in reduced precision, G and D against
float32 within stated tolerances, float16's pre-normalization, clamp and float32 gradient sums, dynamic loss scaling
(a forced overflow skips the step and lowers the scale, on one device and on two replicas), bf16 with two replicas
and with gradient accumulation, losses that track float32's, snapshots, resume, `auto`, and the command lines.

The float32 default is pinned bit for bit by tests/test_precision_default.py."""

import json
import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan2 import generate, losses
from stylegan2 import precision as mixed_precision
from stylegan2.metrics import feature_nets
from stylegan2.metrics import cli as metrics_cli
from stylegan2.ops.mixed import add_float32, multiply_float32
from stylegan2.ops.modulated_conv import modulated_conv2d
from stylegan2.presets import build_networks
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.method import register_method
from stylegan2.training.snapshot import clone_model, latest_snapshot, load_snapshot, open_for_sampling
from stylegan2.training.strategy import mirrored_strategy
from stylegan2.training.stylegan2_method import StyleGAN2Method
from tests.fixtures import one_line_user_error
from tests.test_metrics import STAND_INS

# Tolerances: relative RMS error ||y - y_fp32|| / ||y_fp32|| of tiny networks at 8-32 px with --fp16-res 4, NVIDIA's
# (every block but 4x4 reduced), about twice the largest error measured here and in bench/precision_numerics.py
# (README, "Mixed precision"): bf16 images 9.1e-3, scores 1.8e-2, R1 penalties 4.3e-2, path lengths 1.6e-2; fp16
# 2.2e-3, 2.6e-3, 6.2e-3, 6.9e-3. R1 and path length are compared with minibatch std off: its 1/sqrt(var + 1e-8)
# turns a tiny network's rounding into up to 8% on one image's R1 penalty, in float16 as in bfloat16; and R1's
# gradient passes every lrelu's kink, so its penalty carries more of the rounding than the scores.
TOLERANCE = {
    "bf16": {"images": 2e-2, "scores": 4e-2, "r1": 8e-2, "pl": 4e-2},
    "fp16": {"images": 5e-3, "scores": 6e-3, "r1": 1.5e-2, "pl": 1.5e-2},
}


def relative_rms(y, ref):
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2)))


def networks(resolution, mbstd=4, seed=0):
    keras.utils.set_random_seed(seed)
    G, D = build_networks("tiny", resolution, 3, D_kwargs=dict(mbstd_group_size=mbstd))
    for layer in G.synthesis.convs:
        layer.noise_strength.assign(0.1)  # so that the noise inputs count
    return G, D


def with_precision(model, precision, fp16_res=mixed_precision.DEFAULT_FP16_RES):
    """A copy of `model` (same weights) in `precision`."""
    copy = clone_model(model)
    for a, b in zip(copy.weights, model.weights):
        a.assign(b)
    return mixed_precision.apply_precision(copy, precision, fp16_res)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """64 16x16 RGB images."""
    root = tmp_path_factory.mktemp("precision")
    rnd = np.random.RandomState(0)
    images = (rnd.rand(64, 3, 16, 16) * 255 * np.linspace(0.2, 1, 16)[None, None, :, None]).astype(np.uint8)
    with TFRecordExporter(str(root / "ds"), 64, progress=False) as tfr:
        tfr.add_images(images)
    return str(root)


def options_for(data_dir, tmp_path, *extra):
    options, _ = cli.build_options(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--batch", "8",
                                    "--result-dir", str(tmp_path / "results"), "--grid", "2x2",
                                    "--kimg-per-tick", "0.016", *extra])
    return options


# === What computes in reduced precision ===


def test_the_highest_resolutions_compute_in_reduced_precision_with_float32_weights():
    G, D = networks(32)
    mixed_precision.apply_precision(G, "bf16", fp16_res=2)  # 32 and 16 reduced
    mixed_precision.apply_precision(D, "bf16", fp16_res=2)
    for layer in G.synthesis.convs:
        assert layer.compute_dtype == ("bfloat16" if layer.resolution >= 16 else "float32"), layer.name
        assert layer.affine.compute_dtype == "float32"  # styles from w in float32 (ADA)
    assert {res: t.compute_dtype for res, t in G.synthesis.torgbs.items()} == \
        {4: "float32", 8: "float32", 16: "bfloat16", 32: "bfloat16"}
    assert {res: c.compute_dtype for res, c in D.conv0s.items()} == {32: "bfloat16", 16: "bfloat16", 8: "float32"}
    assert D.fromrgbs[32].compute_dtype == "bfloat16"
    assert {D.conv.compute_dtype, D.fc.compute_dtype, D.out.compute_dtype} == {"float32"}  # the epilogue
    assert {fc.compute_dtype for fc in G.mapping.fcs} == {"float32"}
    assert {w.dtype for w in G.weights + D.weights} == {"float32"}
    assert G.synthesis.conv_clamp == D.conv_clamp == mixed_precision.DEFAULT_CONV_CLAMP  # ADA's pairing
    images = G(tf.random.normal([2, G.z_dim]))
    assert images.dtype == D(images).dtype == tf.float32

    mixed_precision.apply_precision(G, "fp16")  # NVIDIA's 4: every block but 4x4 (ADA: resolution >= 8)
    assert [c.compute_dtype for c in G.synthesis.convs] == ["float32"] + ["float16"] * 6
    mixed_precision.apply_precision(G, "fp32")
    assert {c.compute_dtype for c in G.synthesis.convs} == {"float32"}
    assert G.synthesis.conv_clamp == 256  # part of the network from now on (recorded in its config)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_forward_outputs_match_float32_within_the_stated_tolerance(precision, resolution):
    G, D = networks(resolution)
    rnd = np.random.RandomState(1)
    z = rnd.randn(8, G.z_dim).astype(np.float32)
    noise = [rnd.randn(8, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
    mixed_precision.apply_precision(G, "fp32")  # the clamp, so that float32 has the same network
    mixed_precision.apply_precision(D, "fp32")
    G.synthesis.set_conv_clamp(256)
    D.set_conv_clamp(256)
    images = G(z, noise=noise).numpy()
    G2, D2 = with_precision(G, precision), with_precision(D, precision)
    images2 = G2(z, noise=noise).numpy()
    scores, scores2 = D(images).numpy(), D2(images).numpy()
    tol = TOLERANCE[precision]
    assert 0 < relative_rms(images2, images) < tol["images"]
    assert 0 < relative_rms(scores2, scores) < tol["scores"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_r1_and_path_length_match_float32_within_the_stated_tolerance(precision):
    G, D = networks(32, mbstd=1)
    rnd = np.random.RandomState(2)
    z = tf.constant(rnd.randn(8, G.z_dim).astype(np.float32))
    y = tf.constant(rnd.randn(8, 32, 32, 3).astype(np.float32))
    reals = tf.constant(np.tanh(rnd.randn(8, 32, 32, 3)).astype(np.float32))
    G.synthesis.set_conv_clamp(256)
    D.set_conv_clamp(256)

    def regularizers(G, D):
        r1, _ = losses.r1_penalty(lambda x, c: D(x), reals, None)
        pl, _ = losses.path_lengths(lambda w: G.synthesis(w, noise_mode="const"), G.mapping(z), y)
        return r1.numpy(), pl.numpy()

    (r1, pl), (r1_2, pl_2) = regularizers(G, D), regularizers(with_precision(G, precision), with_precision(D, precision))
    assert 0 < relative_rms(r1_2, r1) < TOLERANCE[precision]["r1"]
    assert 0 < relative_rms(pl_2, pl) < TOLERANCE[precision]["pl"]


def test_inner_gradient_scaling_changes_nothing_in_float32():
    """The loss scale of R1's and path length's inner gradients is a power of two: exact in float32."""
    G, D = networks(16)
    rnd = np.random.RandomState(3)
    reals = tf.constant(rnd.randn(4, 16, 16, 3).astype(np.float32))
    ws = G.mapping(tf.constant(rnd.randn(4, G.z_dim).astype(np.float32)))
    y = tf.constant(rnd.randn(4, 16, 16, 3).astype(np.float32))
    scale = tf.constant(2.0 ** 12)
    r1 = [losses.r1_penalty(lambda x, c: D(x), reals, None, s)[0].numpy() for s in (None, scale)]
    pl = [losses.path_lengths(lambda w: G.synthesis(w, noise_mode="const"), ws, y, s)[0].numpy() for s in (None, scale)]
    np.testing.assert_array_equal(*r1)
    np.testing.assert_array_equal(*pl)


# === float16: pre-normalization, clamp, gradient sums ===


def test_fp16_pre_normalization_keeps_a_large_modulated_conv_finite():
    """ADA's pre-normalization (max |w| per output channel, max |s| per sample) before float16: x * s and the conv
    would reach ~1e6 here (float16's largest value is 65504); demodulation cancels the scales."""
    rnd = np.random.RandomState(4)
    x = rnd.randn(2, 8, 8, 64).astype(np.float32)
    weight = rnd.randn(3, 3, 64, 32).astype(np.float32) * 30.0
    styles = rnd.randn(2, 64).astype(np.float32) * 1000.0
    ref = modulated_conv2d(x, weight, styles).numpy()
    out = modulated_conv2d(tf.cast(x, tf.float16), weight, styles).numpy()
    assert np.isfinite(out).all()
    assert relative_rms(out, ref) < 2e-3
    unnormalized = tf.nn.conv2d(tf.cast(x * styles[:, None, None, :], tf.float16), tf.cast(weight, tf.float16), 1,
                                "SAME").numpy()
    assert not np.isfinite(unnormalized).all()  # what the pre-normalization avoids


def test_conv_clamp_keeps_fp16_activations_finite():
    G, _ = networks(16)
    G.synthesis.convs[3].bias.assign(np.full(G.synthesis.convs[3].bias.shape, 1e5, np.float32))  # b16.conv0
    z = tf.random.stateless_normal([2, G.z_dim], seed=[0, 1])
    clamped = with_precision(G, "fp16")
    assert clamped.synthesis.conv_clamp == 256
    assert np.isfinite(clamped(z).numpy()).all()
    clamped.synthesis.set_conv_clamp(None)
    assert not np.isfinite(clamped(z).numpy()).all()  # 1e5 overflows float16 without the clamp


@pytest.mark.parametrize("op", [add_float32, multiply_float32])
def test_fp16_gradients_of_float32_operands_are_summed_in_float32(op):
    """The gradient of a float32 bias or channel scale broadcast into float16 activations, against float64 NumPy
    (TensorFlow's own float16 sum on the CPU is 47% low on this many values)."""
    rnd = np.random.RandomState(5)
    x = tf.constant(rnd.uniform(0.5, 1.5, [4, 64, 64, 8]).astype(np.float16))
    dy = rnd.uniform(0.5, 1.5, [4, 64, 64, 8]).astype(np.float16)
    v = tf.constant(rnd.uniform(0.5, 1.5, [4, 1, 1, 8] if op is multiply_float32 else [8]).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(v)
        y = op(x, v)
        total = tf.reduce_sum(tf.cast(y, tf.float32) * dy.astype(np.float32))
    assert y.dtype == tf.float16
    grad = tape.gradient(total, v).numpy()
    x64, dy64 = np.asarray(x, np.float64), dy.astype(np.float64)
    expected = (dy64 * x64).sum(axis=(1, 2), keepdims=True) if op is multiply_float32 else dy64.sum(axis=(0, 1, 2))
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


# === float16 dynamic loss scaling ===


@pytest.mark.parametrize("replicas", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_forced_overflow_skips_the_step_and_lowers_the_scale(data_dir, tmp_path, replicas):
    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"]) if replicas == 2 else None
    loop = TrainingLoop(options_for(data_dir, tmp_path, "--precision", "fp16"), strategy=strategy)
    loop.prepare()
    # Path length's inner gradient overflows float16 at this tiny network's first scales (2^15 down to 2^12: its
    # first 4 steps are skipped and the scale settles at 2^11); start it at 2^10 so that pl_mean gets a value.
    loop.loss_scales["G_reg"].log2.assign(10.0)
    stats = loop.train_iteration()  # iteration 0: every phase
    assert stats["Precision/G_reg/overflow"][0] == stats["Precision/D_reg/overflow"][0] == 0.0
    scale = loop.loss_scales["G_main"].log2
    assert scale.numpy() == pytest.approx(15 + 0.0005)
    scale.assign(100.0)  # 2^100: the G_main gradients overflow float16
    G_before = [w.numpy() for w in loop.G.trainable_weights]
    opt_before = [v.numpy() for v in loop.G_opt.variables]
    stats = loop.train_iteration()  # iteration 1: G_main, D_main
    assert stats["Precision/G_main/overflow"] == (1.0, 1.0)
    assert stats["Precision/G_main/loss_scale_log2"][0] == 99.0
    assert stats["Loss/G/loss"][1] == 0  # the skipped step's losses are left out of the averages
    assert stats["Precision/D_main/overflow"][0] == 0.0 and stats["Loss/D/loss"][1] == 8
    for before, w in zip(G_before, loop.G.trainable_weights):
        np.testing.assert_array_equal(before, w.numpy())
    for before, v in zip(opt_before, loop.G_opt.variables):
        np.testing.assert_array_equal(before, v.numpy())  # Adam's moments and iteration count too
    assert not loop.nonfinite_state()  # nothing non-finite was written (what every checkpoint and snapshot check)
    scale.assign(10.0)
    stats = loop.train_iteration()
    assert stats["Precision/G_main/overflow"][0] == 0.0 and scale.numpy() == pytest.approx(10.0005)
    assert not np.array_equal(G_before[0], loop.G.trainable_weights[0].numpy())
    assert loop.G_opt.iterations.numpy() == opt_before[0] + 1

    # Path length: lengths that overflow (its inner gradient scaled by 2^100) skip the G_reg step and leave the
    # running mean pl_mean as it was (NVIDIA's TF1 graph would have assigned the non-finite mean).
    loop.train_iteration()  # iteration 3
    pl_mean = loop.pl_mean.numpy()
    assert np.isfinite(pl_mean) and pl_mean > 0
    loop.loss_scales["G_reg"].log2.assign(100.0)
    stats = loop.train_iteration()  # iteration 4: G_main, G_reg, D_main
    assert stats["Precision/G_reg/overflow"] == (1.0, 1.0)
    assert stats["Precision/G_reg/loss_scale_log2"][0] == 99.0
    assert loop.pl_mean.numpy() == pl_mean
    assert not loop.nonfinite_state()


@register_method
class OverflowOnReplica1(StyleGAN2Method):
    """StyleGAN2 whose G loss is infinite on replica 1 only."""
    name = "test-overflow-on-replica-1"

    def g_main(self, ctx):
        loss, stats = super().g_main(ctx)
        return loss * tf.where(ctx.draws.replica == 1, np.inf, 1.0), stats


@pytest.mark.slow
def test_an_overflow_on_one_replica_skips_the_step_on_every_replica(data_dir, tmp_path):
    loop = TrainingLoop(options_for(data_dir, tmp_path, "--precision", "fp16", "--method", "test-overflow-on-replica-1"),
                        strategy=mirrored_strategy(["/cpu:0", "/cpu:1"]))
    loop.prepare()
    before = [w.numpy() for w in loop.G.trainable_weights]
    stats = loop.train_iteration()
    assert stats["Precision/G_main/overflow"][0] == 1.0 and stats["Precision/G_main/loss_scale_log2"][0] == 14.0
    for b, w in zip(before, loop.G.trainable_weights):
        for replica_value in loop.strategy.experimental_local_results(w.value):
            np.testing.assert_array_equal(b, replica_value.numpy())


# === bfloat16 with replicas and accumulation; losses track float32 ===


def _steps(data_dir, tmp_path, precision, strategy=None, batch_gpu=8, steps=3, path_length=True, g_reg_log2=None):
    """(loop, [stats of each iteration], {model: its trainable weights before training}) of `steps` iterations;
    `g_reg_log2`: float16's initial path-length loss scale."""
    options = options_for(data_dir, tmp_path, "--precision", precision, "--batch-gpu", str(batch_gpu))
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}  # as in tests/test_training.py
    if not path_length:
        options.hparams["pl_weight"] = 0.0  # its running mean is per round by definition (tests/test_training.py)
    loop = TrainingLoop(options, strategy=strategy)
    loop.prepare()
    if g_reg_log2 is not None:
        loop.loss_scales["G_reg"].log2.assign(g_reg_log2)
    initial = {m: [w.numpy() for w in getattr(loop, m).trainable_weights] for m in ("G", "D")}
    return loop, [loop.train_iteration() for _ in range(steps)], initial


# Two bfloat16 computations of one step that sum in another order (replicas, rounds) each round differently: they
# differ by up to twice the error of either against float32, the TOLERANCE above: for R1 and path length relative
# (R1's penalty differs by 7% between one device and two replicas, 0.8% between one round and two), for the mean
# scores absolute (they are near 0; TOLERANCE's is relative to their RMS, about 1 here). The losses (softplus of the
# scores, about 0.6-1.6) differ by up to 0.25%: within 1e-2. The weights are compared through their updates after 3
# iterations: a weight whose gradient is about 0 moves by Adam's full step in a direction set by rounding, so single
# weights may differ by a few learning rates, but the relative RMS difference of the updates stays below 0.25.
def _tolerance(stat):
    """(rtol, atol) of a stat's mean."""
    if "r1" in stat or stat == "Loss/D/reg":
        return 2 * TOLERANCE["bf16"]["r1"], 0
    if "pl" in stat or stat == "Loss/G/reg":
        return 2 * TOLERANCE["bf16"]["pl"], 0
    if "scores" in stat:
        return 0, 2 * TOLERANCE["bf16"]["scores"]
    return 1e-2, 0


BF16_UPDATE_TOLERANCE = 0.25


def _same_steps(a, b):
    (loop_a, stats_a, initial), (loop_b, stats_b, initial_b) = a, b
    for model in initial:
        for x, y in zip(initial[model], initial_b[model]):
            np.testing.assert_array_equal(x, y)  # the same start
    assert len(stats_a) == len(stats_b)
    failures = []
    for step, (x, y) in enumerate(zip(stats_a, stats_b)):
        assert x.keys() == y.keys()
        for name in x:
            want, got = x[name][0] / x[name][1], y[name][0] / y[name][1]
            rtol, atol = _tolerance(name)
            print(f"iteration {step} {name}: {got:.5g} against {want:.5g} (rtol {rtol:g}, atol {atol:g})")
            if not abs(got - want) <= atol + rtol * abs(want):
                failures.append((step, name, got, want))
    for model in ("G", "D"):
        updates = [np.concatenate([(w.numpy() - w0).ravel() for w, w0 in
                                   zip(getattr(loop, model).trainable_weights, initial[model])])
                   for loop in (loop_a, loop_b)]
        difference = relative_rms(updates[1], updates[0])
        print(f"{model}: relative RMS difference of the weight updates {difference:.3g}")
        if not difference < BF16_UPDATE_TOLERANCE:
            failures.append((model, "updates", difference, BF16_UPDATE_TOLERANCE))
    assert not failures, failures


@pytest.mark.slow
def test_bf16_two_replicas_equal_one_device(data_dir, tmp_path):
    one = _steps(data_dir, tmp_path, "bf16")
    assert one[0].G.synthesis.convs[-1].compute_dtype == "bfloat16"
    two = _steps(data_dir, tmp_path, "bf16", mirrored_strategy(["/cpu:0", "/cpu:1"]))
    assert two[0].strategy.num_replicas_in_sync == 2
    _same_steps(one, two)


def test_bf16_accumulation_rounds_equal_one_round(data_dir, tmp_path):
    one = _steps(data_dir, tmp_path, "bf16", path_length=False)
    rounds = _steps(data_dir, tmp_path, "bf16", batch_gpu=4, path_length=False)
    assert (one[0].rounds, rounds[0].rounds) == (1, 2)
    _same_steps(one, rounds)


@pytest.mark.slow
def test_losses_track_the_float32_run(data_dir, tmp_path):
    """16 iterations from the same seed and data: G and D losses within 0.03 of float32's at every iteration
    (they start at ~0.65 and ~1.6). float16 starts path length's loss scale at 2^10, where its inner gradient fits
    (at the default 2^15 its first 4 steps overflow and are skipped, tests above: a run without those 4
    regularization steps is another trajectory, 0.1 away in G's loss by iteration 14)."""
    runs = {p: _steps(data_dir, tmp_path, p, steps=16, g_reg_log2=10.0 if p == "fp16" else None)[1]
            for p in ("fp32", "bf16", "fp16")}
    assert not any(s["Precision/G_reg/overflow"][0] for s in runs["fp16"] if "Precision/G_reg/overflow" in s)
    for precision in ("bf16", "fp16"):
        for name in ("Loss/G/loss", "Loss/D/loss"):
            ref = np.array([s[name][0] / s[name][1] for s in runs["fp32"]])
            got = np.array([s[name][0] / s[name][1] if s[name][1] else np.nan for s in runs[precision]])
            finite = np.isfinite(got)
            assert finite.sum() >= 14, (precision, name)
            assert np.abs(got[finite] - ref[finite]).max() < 0.03, (precision, name, got, ref)


# === Snapshots, resume, generation, metrics, auto ===


def test_snapshots_stay_float32_resume_keeps_the_precision_and_generation_takes_any(data_dir, tmp_path, monkeypatch):
    run_dir = cli.main.__wrapped__(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--batch", "8",
                                    "--total-kimg", "0.016", "--kimg-per-tick", "0.016", "--grid", "2x2",
                                    "--precision", "bf16", "--result-dir", str(tmp_path / "r")])
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "Precision: bfloat16 at 8x8 and above (--fp16-res 4), float32 below; conv_clamp 256" in log
    saved = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert (saved["precision"], saved["resolved_precision"], saved["fp16_res"]) == ("bf16", "bf16", 4)
    path = latest_snapshot(run_dir)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    assert "bfloat16" not in config and '"conv_clamp": 256' in config
    snap = load_snapshot(path)
    assert snap.metadata["precision"] == "bf16"
    assert {layer.compute_dtype for layer in snap.G_ema.synthesis.convs} == {"float32"}

    # Generation under each precision: the same images to within the tolerances.
    z = np.random.RandomState(0).randn(4, snap.G_ema.z_dim).astype(np.float32)
    images = {p: open_for_sampling(path, precision=p)[1](z, noise_mode="const").numpy() for p in ("fp32", "bf16", "fp16")}
    for p in ("bf16", "fp16"):
        assert relative_rms(images[p], images["fp32"]) < TOLERANCE[p]["images"]
    out = generate.run(["generate-images", f"--network={run_dir}", "--seeds=1-2", "--precision=bf16",
                        f"--result-dir={tmp_path / 'gen'}"])
    assert sorted(os.listdir(out)) == ["seed0001.png", "seed0002.png"]

    # Resume: the run's own precision; a different one is refused with one line; the same one is accepted.
    resumed = cli.main.__wrapped__(["--resume", run_dir, "--total-kimg", "0.032"])
    assert open(os.path.join(resumed, "log.txt")).read().count("Precision: bfloat16") == 2
    one_line_user_error(cli.main.__wrapped__, ["--resume", run_dir, "--precision", "fp32"],
                        "--precision", "trained with 'bf16'", "cannot change")
    options, _ = cli.build_options(["--resume", run_dir, "--precision", "bf16", "--fp16-res", "4"])
    assert cli.resume_options(options, {"precision", "fp16_res", "resume"}).resolved_precision == "bf16"

    # run_metrics.py: the generator in bfloat16 (stand-in feature networks).
    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, weights=None: STAND_INS[name])
    metric_dir, results = metrics_cli.main.__wrapped__(
        ["--metrics", "fid50k", "--network", path, "--metrics-num-images", "16", "--precision", "bf16",
         "--result-dir", str(tmp_path / "m")])
    assert np.isfinite(results[path]["fid50k"])
    assert "Generator precision: bf16" in open(os.path.join(metric_dir, "log.txt")).read()


def test_auto_picks_bf16_only_where_it_is_faster(monkeypatch, data_dir, tmp_path):
    monkeypatch.setattr(mixed_precision, "cpu_flags", lambda: {"avx2", "fma"})
    assert mixed_precision.resolve("auto") == ("fp32", "the CPU has no bfloat16 instructions (avx512_bf16, amx_bf16)")
    monkeypatch.setattr(mixed_precision, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(mixed_precision, "measure_bf16_speedup", lambda: (1.1, "1.1x"))
    assert mixed_precision.resolve("auto")[0] == "fp32"
    monkeypatch.setattr(mixed_precision, "measure_bf16_speedup", lambda: (2.5, "2.5x"))
    choice, reason = mixed_precision.resolve("auto")
    assert choice == "bf16" and "avx512_bf16" in reason and "2.5x" in reason
    assert mixed_precision.resolve("fp16") == ("fp16", None)  # never measured when given
    loop = TrainingLoop(options_for(data_dir, tmp_path, "--precision", "auto"))
    assert loop.precision == loop.options.resolved_precision == "bf16"
    assert "(auto: the CPU has avx512_bf16; 2.5x, >= 1.25x)" in loop.describe_precision()


def test_the_speed_measurement_of_auto_runs():
    ratio, detail = mixed_precision.measure_bf16_speedup(reps=1)
    assert ratio > 0 and "bfloat16" in detail


def test_bad_precision_flags_are_one_line(data_dir, tmp_path):
    base = ["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--dry-run"]
    one_line_user_error(cli.main.__wrapped__, base + ["--fp16-res", "2"], "--fp16-res 2", "--precision bf16")
    one_line_user_error(cli.main.__wrapped__, base + ["--precision", "bf16", "--fp16-res", "0"], "at least 1")
    one_line_user_error(cli.main.__wrapped__, base + ["--precision", "fp8"], "--precision", "fp8")
    one_line_user_error(generate.run, ["generate-images", "--network=x.keras", "--seeds=1", "--precision=bf16",
                                       "--fp16-res=0"], "--fp16-res 0")
    one_line_user_error(metrics_cli.main.__wrapped__, ["--network", "x.keras", "--fp16-res", "3"], "--fp16-res 3")
