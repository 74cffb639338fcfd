"""The training loop end to end on a tiny preset: outputs, 1 device == 2 replicas, exact resume, SIGKILL, NaN."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingDiverged, TrainingLoop
from stylegan2.training.method import register_method
from stylegan2.training.snapshot import latest_snapshot, load_snapshot
from stylegan2.training.strategy import mirrored_strategy
from stylegan2.training.stylegan2_method import StyleGAN2Method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """64 small 8x8 RGB images with 4-class one-hot labels."""
    root = tmp_path_factory.mktemp("train")
    rnd = np.random.RandomState(0)
    images = (rnd.rand(64, 3, 8, 8) * 255 * np.linspace(0.2, 1, 8)[None, None, :, None]).astype(np.uint8)
    with TFRecordExporter(str(root / "ds"), 64, progress=False) as tfr:
        tfr.add_images(images)
        tfr.add_labels(np.eye(4)[np.arange(64) % 4], label_kind="onehot")
    return str(root)


def options_for(data_dir, tmp_path, *extra):
    options, _ = cli.build_options(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny",
                                    "--result-dir", str(tmp_path / "results"), "--grid", "2x2",
                                    "--kimg-per-tick", "0.016", *extra])
    return options


def weights(model):
    return [np.array(w) for w in model.weights]


def test_end_to_end_run_writes_every_output(data_dir, tmp_path):
    run_dir = cli.main(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--total-kimg", "0.048",
                        "--kimg-per-tick", "0.016", "--snapshot-ticks", "2", "--grid", "2x2", "--mirror-augment=true",
                        "--result-dir", str(tmp_path / "results")])
    assert os.path.basename(run_dir) == "00000-stylegan2-ds-tiny-1gpu-mirror"
    files = set(os.listdir(run_dir))
    assert {"training_options.json", "log.txt", "reals.png", "fakes_init.png", "fakes000000.032.png",
            "fakes000000.048.png", "network-snapshot-000000.032.keras", "network-snapshot-000000.048.keras", "checkpoints",
            "_finished.txt"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)
    log = open(os.path.join(run_dir, "log.txt")).read()
    ticks = [line for line in log.splitlines() if line.startswith("tick ")]
    assert len(ticks) == 3
    for field in ("kimg", "minibatch", "time", "sec/tick", "sec/kimg", "img/s", "peak_mem", "ETA", "Loss/G/loss",
                  "Loss/D/loss", "Loss/r1_penalty", "Loss/pl_penalty"):
        assert field in ticks[0]
    options = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert options["hparams"]["r1_gamma"] == 10.0 and options["batch"] == 8 and options["mirror_augment"] is True
    snap = load_snapshot(run_dir)
    assert snap.metadata["kimg"] == 0.048
    images = snap.G_ema(tf.random.normal([2, snap.G_ema.z_dim]))
    assert images.shape == (2, 8, 8, 3)


def _three_steps(data_dir, tmp_path, strategy):
    options = options_for(data_dir, tmp_path, "--batch", "8")
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}  # see test docstring below
    options.mirror_augment = True
    loop = TrainingLoop(options, strategy=strategy)
    loop.prepare()
    losses = [loop.train_iteration() for _ in range(3)]
    return loop, losses


def test_one_device_equals_two_replicas(data_dir, tmp_path):
    """Same global batch, same seed: the same losses and weights after 3 steps (all phases run at step 0).

    Randomness is drawn for the global batch and sliced per replica, gradients are summed over replicas, pl_mean
    uses the global mean and w_avg averages the replicas' updates. Minibatch std is switched off here because NVIDIA's
    grouping (sample i in group i mod N/G) depends on the per-device batch by definition."""
    single, single_losses = _three_steps(data_dir, tmp_path, tf.distribute.get_strategy())
    mirrored = mirrored_strategy(["/cpu:0", "/cpu:1"])
    double, double_losses = _three_steps(data_dir, tmp_path, mirrored)
    assert double.strategy.num_replicas_in_sync == 2
    for a, b in zip(single_losses, double_losses):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_allclose(a[name][0] / a[name][1], b[name][0] / b[name][1], rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    for model in ("G", "D", "G_ema"):
        for wa, wb in zip(weights(getattr(single, model)), weights(getattr(double, model))):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-4, err_msg=model)
    np.testing.assert_allclose(single.pl_mean.numpy(), double.pl_mean.numpy(), rtol=1e-4)


@register_method
class RecordsBatches(StyleGAN2Method):
    """StyleGAN2, recording the per-replica batch each phase function is traced with."""
    name = "test-records-batches"
    seen = []

    def d_main(self, ctx, reals, labels, indices):
        RecordsBatches.seen.append((ctx.local_batch, reals.shape[0]))
        return super().d_main(ctx, reals, labels, indices)


def _accumulated_steps(data_dir, tmp_path, batch_gpu, *extra):
    options = options_for(data_dir, tmp_path, "--batch", "8", "--batch-gpu", str(batch_gpu), *extra)
    options.network_overrides = {"D_kwargs": {"mbstd_group_size": 1}}
    options.hparams["pl_weight"] = 0.0  # path length's running mean is updated per round by definition (as NV's)
    loop = TrainingLoop(options)
    loop.prepare()
    return loop, [loop.train_iteration() for _ in range(3)]


def test_gradient_accumulation_rounds_equal_one_round(data_dir, tmp_path):
    """Two rounds of 4 give the step of one round of 8: the rounds draw the same samples (one draw for the whole
    step), and the gradient is the mean over all 8. Minibatch std and path length are off, and w_avg is not compared:
    their statistics are per round by definition (NVIDIA's minibatch_gpu: every G call of a round updates w_avg)."""
    one, one_losses = _accumulated_steps(data_dir, tmp_path, 8)
    RecordsBatches.seen.clear()
    two, two_losses = _accumulated_steps(data_dir, tmp_path, 4, "--method", "test-records-batches")
    assert (one.rounds, two.rounds) == (1, 2)
    assert RecordsBatches.seen == [(4, 4), (4, 4)]  # D_main traced once per round, on half of the reals
    for a, b in zip(one_losses, two_losses):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name][1] == b[name][1], name
            np.testing.assert_allclose(a[name][0] / a[name][1], b[name][0] / b[name][1], rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    for model in ("G", "D", "G_ema"):
        for wa, wb in zip(getattr(one, model).trainable_weights, getattr(two, model).trainable_weights):
            np.testing.assert_allclose(np.array(wa), np.array(wb), rtol=1e-4, atol=1e-4, err_msg=model)


def test_gradient_accumulation_with_minibatch_std_and_path_length(data_dir, tmp_path):
    loop = TrainingLoop(options_for(data_dir, tmp_path, "--batch", "8", "--batch-gpu", "4"))
    loop.prepare()
    stats = loop.train_iteration()  # iteration 0 runs all four phases
    assert loop.rounds == 2 and {"Loss/pl_penalty", "Loss/r1_penalty"} <= stats.keys()
    assert stats["Loss/G/loss"][1] == 8 and stats["Loss/pl_penalty"][1] == 4  # 2 rounds x (4 // pl_batch_shrink)
    assert all(np.isfinite(total) for total, _ in stats.values()) and loop.pl_mean.numpy() > 0


def test_resumed_run_equals_uninterrupted_run(data_dir, tmp_path):
    full = cli.main(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--total-kimg", "0.064",
                     "--kimg-per-tick", "0.016", "--grid", "2x2", "--result-dir", str(tmp_path / "a")])
    part = cli.main(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny", "--total-kimg", "0.032",
                     "--kimg-per-tick", "0.016", "--grid", "2x2", "--result-dir", str(tmp_path / "b")])
    resumed = cli.main(["--data-dir", data_dir, "--dataset", "ds", "--resume", part, "--total-kimg", "0.064"])
    assert resumed == part
    assert "Resumed from the checkpoint at kimg 0.0 (iteration 4)" in open(os.path.join(part, "log.txt")).read()
    a, b = load_snapshot(full), load_snapshot(part)
    assert a.metadata["kimg"] == b.metadata["kimg"] == 0.064
    for name in ("G", "D", "G_ema"):
        for wa, wb in zip(weights(getattr(a, name)), weights(getattr(b, name))):
            np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_the_last_checkpoint(data_dir, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "run_training.py"), "--data-dir", data_dir, "--dataset", "ds",
           "--config", "tiny", "--kimg-per-tick", "0.016", "--grid", "2x2", "--result-dir", str(tmp_path / "r")]
    proc = subprocess.Popen(cmd + ["--total-kimg", "100"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run_dir = os.path.join(tmp_path, "r", "00000-stylegan2-ds-tiny-1gpu")
    deadline = time.time() + 240
    while time.time() < deadline:
        log = os.path.join(run_dir, "log.txt")
        if os.path.isfile(log) and open(log).read().count("\ntick ") >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    assert ckpt is not None
    step = int(ckpt.rsplit("-", 1)[1])
    done = subprocess.run(cmd + ["--resume", run_dir, "--total-kimg", f"{(step * 8 + 32) / 1000}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert f"(iteration {step})" in log and os.path.isfile(os.path.join(run_dir, "_finished.txt"))
    assert load_snapshot(run_dir).metadata["step"] == step + 4


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_snapshot(data_dir, tmp_path):
    @register_method
    class Exploding(StyleGAN2Method):
        name = "test-exploding"

        def g_main(self, ctx):
            loss, stats = super().g_main(ctx)
            # G's optimizer has made 8 updates after iteration 5 (G_reg runs at iterations 0 and 4).
            loss = tf.where(ctx.loop.G_opt.iterations >= 8, np.float32(np.nan), loss)
            return loss, {**stats, "Loss/G/loss": loss}

    with pytest.raises(TrainingDiverged) as info:
        cli.main.__wrapped__(["--method", "test-exploding", "--data-dir", data_dir, "--dataset", "ds", "--config", "tiny",
                  "--total-kimg", "1", "--kimg-per-tick", "0.016", "--snapshot-ticks", "1", "--grid", "2x2",
                  "--result-dir", str(tmp_path / "r")])
    message = str(info.value)
    run_dir = os.path.join(tmp_path, "r", "00000-test-exploding-ds-tiny-1gpu")
    last = latest_snapshot(run_dir)
    assert "diverged" in message and "Loss/G/loss is nan" in message and last in message
    assert "network-snapshot-000000.048.keras" in last  # iteration 6 diverges: the tick ending at 0.048 was the last
    load_snapshot(last)
    assert not os.path.exists(os.path.join(run_dir, "_finished.txt"))


INCLUSIVE_README = [
    "--data-dir=datasets --config=config-e-Gskip-Dresnet --num-gpus=2 --metrics=mode_counts_24k,KL24k "
    "--dataset=stacked_mnist_240k --result-dir=results/stacked_mnist_240k --data-size=240000",
    "--data-dir=datasets --config=config-e-Gskip-Dresnet --num-gpus=2 --metrics=fid30k "
    "--dataset=celeba_align_png_cropped_30k --result-dir=results/celeba_align_png_cropped_30k --data-size=30000 "
    "--attr-interesting=Bags_Under_Eyes,High_Cheekbones,Attractive",
]


@pytest.mark.parametrize("argv", INCLUSIVE_README)
def test_inclusive_readme_commands_parse(argv):
    args = cli.build_parser().parse_args(argv.split())
    assert args.num_gpus == 2 and args.config == "config-e-Gskip-Dresnet" and args.data_size in (240000, 30000)


def test_nvidia_command_parses(tmp_path):
    options, dry = cli.build_options(["--num-gpus=2", "--data-dir=datasets", "--config=config-e", "--dataset=ffhq",
                                      "--mirror-augment=true", "--total-kimg=10000", "--gamma=50", "--dry-run"])
    assert dry and options.num_gpus == 2 and options.hparams["r1_gamma"] == 50 and options.mirror_augment
    assert options.batch == 32 and options.total_kimg == 10000
    assert options.batch_gpu == 4  # NVIDIA's minibatch_gpu: 8 accumulation rounds on one device, 4 on 2 replicas


@pytest.mark.parametrize("argv, fragment", [
    (["--config", "config-x"], "unknown preset 'config-x'; valid presets: config-e"),
    (["--metrics", "fid51k"], "--metrics fid51k: unknown metric(s) fid51k"),
    (["--method", "nope"], "--method nope: unknown method; choose one of"),
    (["--num-gpus", "0"], "--num-gpus 0: must be at least 1"),
    (["--grid", "big"], "--grid big: expected '1080p' or COLSxROWS"),
    (["--resume", "/nonexistent/run"], "--resume /nonexistent/run: no such run directory or snapshot file"),
    (["--data-size", "100"], "--method inclusive"),
    (["--method", "inclusive", "--batch-gpu", "2"], "--batch-gpu: --method inclusive trains without gradient"),
    (["--batch-gpu", "0"], "--batch-gpu 0: must be positive"),
])
def test_bad_flags_give_one_line(argv, fragment):
    with pytest.raises(UserError) as info:
        cli.build_options(["--dataset", "ds", *argv])
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_bad_runtime_input(data_dir, tmp_path):
    with pytest.raises(UserError, match="no such dataset directory"):
        TrainingLoop(options_for(data_dir, tmp_path, "--dataset", "missing"))
    with pytest.raises(UserError, match="--batch 7: must be divisible by the number of replicas \\(2\\)"):
        TrainingLoop(options_for(data_dir, tmp_path, "--batch", "7"),
                     strategy=mirrored_strategy(["/cpu:0", "/cpu:1"]))
    with pytest.raises(UserError, match="minibatch-stddev group size 4"):
        TrainingLoop(options_for(data_dir, tmp_path, "--batch", "6"))
    with pytest.raises(UserError, match="--batch-gpu 3: must divide the per-replica batch 8"):
        TrainingLoop(options_for(data_dir, tmp_path, "--batch", "8", "--batch-gpu", "3"))
    with pytest.raises(UserError, match="--batch-gpu 6: the per-replica batch of one round, 6, must be divisible by "
                                        "the minibatch-stddev group size 4"):
        TrainingLoop(options_for(data_dir, tmp_path, "--batch", "12", "--batch-gpu", "6"))


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_multiworker_run_on_localhost(data_dir, tmp_path):
    """TF_CONFIG -> MultiWorkerMirroredStrategy: two processes train together; only the chief writes the run."""
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        cmd = [sys.executable, os.path.join(ROOT, "run_training.py"), "--data-dir", data_dir, "--dataset", "ds",
               "--config", "tiny", "--total-kimg", "0.032", "--kimg-per-tick", "0.016", "--grid", "2x2",
               "--result-dir", str(tmp_path / f"r{index}")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    chief = os.path.join(tmp_path, "r0", "00000-stylegan2-ds-tiny-1gpu")
    log = open(os.path.join(chief, "log.txt")).read()
    assert "2 replica(s), batch 8" in log and log.count("\ntick ") == 2
    assert load_snapshot(chief).metadata["kimg"] == 0.032
    assert not os.path.exists(tmp_path / "r1")  # the worker's outputs went to a temporary directory, now removed
