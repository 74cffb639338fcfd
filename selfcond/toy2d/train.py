"""One run of the 2D study: the original's 2d_mix/train.py main(), with checkpoints and exact resume.

Per run (notes section 4):
  data      a fixed test set (test_batch_size points and as many fixed z), a 10k cluster set and npts training
            points, drawn once and kept in <run_dir>/data.npz;
  models    G and D of networks.py, Adam(lr 1e-4, betas (0.8, 0.999), eps 1e-8) each, BCE (softplus) losses;
  clusterer made by selfcond.clustering over D's features; before the first step it clusters once on the
            randomly initialised D;
  loop      per iteration (shuffled epochs, last partial batch dropped): y = labels of the real batch, a D step
            on (x_real, y) and (G(z, y), y), a G step with the same z and y; then a recluster when
            it % recluster_every == 0 (it = 0 included) and it >= burnin_time (the supervised clusterer never
            reclusters); every eval_every iterations (it = 0 included): labels of the test set, G in inference
            mode on the fixed z, metrics to log.txt, plots, a checkpoint.
Randomness comes from the seed and the run index only: z of iteration `it` is drawn from a generator keyed by
(seed, it), epoch e's order is a permutation keyed by (seed, e), so a resumed run repeats the uninterrupted one.
"""

import dataclasses
import glob
import json
import os
import re
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from selfcond.clustering import make_clusterer
from selfcond.toy2d import data, metrics, networks, plots
from selfcond.toy2d.options import CLUSTER_SET_SIZE
from stylegan2.training.snapshot import save_keras_atomic

LOG_LINE = re.compile(r"\[epoch (\d+) it (\d+)\] dloss = (\S+), gloss = (\S+), prop_real = (\S+), "
                      r"modes = (\d+), kl = (\S+)")
LAST_EVALS = 5  # the summary averages each run's last 5 evaluations


class DiscriminatorFeatures:
    """The clusterer's feature source over D's third Maxout layer: `snapshot()` copies D's weights into a second
    D (the original's deep copy), `frozen(x)` / `live(x)` run the copy / the training D in inference mode."""

    def __init__(self, discriminator, snapshot_discriminator):
        self.discriminator = discriminator
        self.snapshot_discriminator = snapshot_discriminator
        spec = [tf.TensorSpec([None, discriminator.inputs[0].shape[-1]], tf.float32)]
        live, frozen = networks.feature_model(discriminator), networks.feature_model(snapshot_discriminator)
        self._live = tf.function(lambda x: live(x, training=False), input_signature=spec)
        self._frozen = tf.function(lambda x: frozen(x, training=False), input_signature=spec)

    def snapshot(self):
        for dst, src in zip(self.snapshot_discriminator.weights, self.discriminator.weights):
            dst.assign(src)

    def frozen(self, x):
        return self._frozen(np.asarray(x, np.float32)).numpy()

    def live(self, x):
        return self._live(np.asarray(x, np.float32)).numpy()


def make_train_step(G, D, G_opt, D_opt):
    """One iteration, `step(x_real, y, z) -> (dloss, gloss)`: a D step then a G step with the same z and y
    (gan_training/train.py discriminator_trainstep, generator_trainstep; standard GAN loss, no regularisation)."""
    x_dim = D.inputs[0].shape[-1]
    z_dim = G.inputs[0].shape[-1]

    @tf.function(input_signature=[tf.TensorSpec([None, x_dim], tf.float32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None, z_dim], tf.float32)])
    def step(x_real, y, z):
        # D step: fakes from G in training mode (its BatchNorm statistics move), no gradient into G.
        x_fake = G([z, y], training=True)
        with tf.GradientTape() as tape:
            d_real = D([x_real, y], training=True)
            d_fake = D([x_fake, y], training=True)
            # BCE(d_real, 1) + BCE(d_fake, 0), each a batch mean
            dloss = tf.reduce_mean(tf.nn.softplus(-d_real)) + tf.reduce_mean(tf.nn.softplus(d_fake))
        D_opt.apply(tape.gradient(dloss, D.trainable_variables), D.trainable_variables)
        # G step: non-saturating BCE(D(G(z, y), y), 1) against the updated D.
        with tf.GradientTape() as tape:
            gloss = tf.reduce_mean(tf.nn.softplus(-D([G([z, y], training=True), y], training=True)))
        G_opt.apply(tape.gradient(gloss, G.trainable_variables), G.trainable_variables)
        return dloss, gloss

    return step


class TorchAdam(keras.optimizers.Adam):
    """Adam with torch.optim.Adam's step: var -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    Keras' Adam adds eps to sqrt(v) before the bias correction, an effective eps / sqrt(1 - b2^t) (31x larger at
    the first step, 1.6x at step 1000), which moves small-gradient weights differently in early training.
    """

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(tf.convert_to_tensor(gradient), variable.dtype)  # the embedding's is IndexedSlices
        step = ops.cast(self.iterations + 1, variable.dtype)
        bias_correction1 = 1.0 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        bias_correction2 = 1.0 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, (gradient - m) * (1.0 - self.beta_1))
        self.assign(v, v * self.beta_2 + gradient * gradient * (1.0 - self.beta_2))
        denom = ops.sqrt(v) / ops.sqrt(bias_correction2) + self.epsilon
        self.assign_sub(variable, (lr / bias_correction1) * m / denom)


def make_optimizer():
    """Adam(lr 1e-4, betas (0.8, 0.999), eps 1e-8) as 2d_mix/config.py get_optimizers (eps: PyTorch's default)."""
    return TorchAdam(1e-4, beta_1=0.8, beta_2=0.999, epsilon=1e-8)


def _atomic_savez(path, **arrays):
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def format_log_line(epoch, it, dloss, gloss, percent, modes, kl):
    """The original's log.txt line (2d_mix/train.py L147)."""
    return f"[epoch {epoch} it {it}] dloss = {dloss}, gloss = {gloss}, prop_real = {percent}, modes = {modes}, kl = {kl}"


def read_log(path):
    """log.txt -> list of dicts (epoch, it, dloss, gloss, prop_real, modes, kl)."""
    records = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                m = LOG_LINE.match(line.strip())
                if m:
                    e, it, dl, gl, pr, modes, kl = m.groups()
                    records.append(dict(epoch=int(e), it=int(it), dloss=float(dl), gloss=float(gl),
                                        prop_real=float(pr), modes=int(modes), kl=float(kl)))
    return records


class Toy2DRun:
    """One run (run index `run` of options.nruns) in options.run_dir(run). `train()` starts it, or resumes it from
    its last checkpoint, and returns its log records."""

    def __init__(self, options, run=0, log=print):
        self.o = options
        self.run_dir = options.run_dir(run)
        self.log = log
        seeds = np.random.SeedSequence([options.seed, run]).generate_state(4) % (2**30)
        self.data_seed, self.model_seed, self.cluster_seed, self.z_seed = (int(s) for s in seeds)
        self.snapshot_dir = os.path.join(self.run_dir, "snapshots")
        self.means = data.mode_means(options.data_type)
        self.sigma = float(np.sqrt(options.var))

    # === Set-up ===

    def _data(self):
        path = os.path.join(self.run_dir, "data.npz")
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as f:
                return {key: f[key] for key in f.files}
        o = self.o
        rng = np.random.default_rng(self.data_seed)
        arrays = {"z_test": rng.standard_normal((o.test_batch_size, o.z_dim)).astype(np.float32)}
        for name, n in (("test", o.test_batch_size), ("cluster", CLUSTER_SET_SIZE), ("train", o.npts)):
            x, y = data.sample(o.data_type, n, rng, o.var)
            arrays[f"x_{name}"], arrays[f"y_{name}"] = x.astype(np.float32), y
        _atomic_savez(path, **arrays)
        return arrays

    def _build(self):
        o = self.o
        self.G = networks.build_generator(o.k, z_dim=o.z_dim, seed=self.model_seed)
        self.D = networks.build_discriminator(o.k, act_dim=o.d_act_dim, seed=self.model_seed + 1000)
        self.D_snapshot = networks.build_discriminator(o.k, act_dim=o.d_act_dim, seed=self.model_seed + 1000,
                                                       name="discriminator_snapshot")
        self.G_opt, self.D_opt = make_optimizer(), make_optimizer()
        self.G_opt.build(self.G.trainable_variables)
        self.D_opt.build(self.D.trainable_variables)
        self.features = DiscriminatorFeatures(self.D, self.D_snapshot)
        d = self.data
        self.clusterer = make_clusterer(o.clusterer, o.k, x_cluster=d["x_cluster"], features=self.features,
                                        seed=self.cluster_seed, batch_size=CLUSTER_SET_SIZE)
        self.train_step = make_train_step(self.G, self.D, self.G_opt, self.D_opt)
        spec = [tf.TensorSpec([None, o.z_dim], tf.float32), tf.TensorSpec([None], tf.int32)]
        self.generate = tf.function(lambda z, y: self.G([z, y], training=False), input_signature=spec)

    # === Checkpoints ===

    def _checkpoint(self):
        def weights(model):
            return {w.path.replace("/", "."): w.value for w in model.weights}

        return tf.train.Checkpoint(G=weights(self.G), D=weights(self.D), D_snapshot=weights(self.D_snapshot),
                                   G_opt=[v.value for v in self.G_opt.variables],
                                   D_opt=[v.value for v in self.D_opt.variables])

    def save_checkpoint(self, it):
        """Clusterer state first, then the TensorFlow checkpoint, whose index file is the commit point."""
        _atomic_savez(os.path.join(self.snapshot_dir, f"clusterer-{it}.npz"), **self.clusterer.state_dict())
        self.checkpoints.save(checkpoint_number=it)
        kept = {int(p.rsplit("-", 1)[1]) for p in self.checkpoints.checkpoints}
        for path in glob.glob(os.path.join(self.snapshot_dir, "clusterer-*.npz")):
            if int(os.path.basename(path)[len("clusterer-"):-len(".npz")]) not in kept:
                os.remove(path)

    def _restore(self):
        """Restores the last checkpoint; returns its iteration, or None when there is none."""
        latest = tf.train.latest_checkpoint(self.snapshot_dir)
        if latest is None:
            return None
        self._checkpoint().restore(latest).assert_consumed()
        it = int(latest.rsplit("-", 1)[1])
        with np.load(os.path.join(self.snapshot_dir, f"clusterer-{it}.npz"), allow_pickle=False) as f:
            self.clusterer.load_state_dict({key: f[key] for key in f.files})
        return it

    # === Evaluation ===

    def evaluate(self, it, epoch, dloss, gloss):
        """Metrics of G (inference mode) on the fixed z with the test set's labels, log line, plots."""
        d = self.data
        labels = self.clusterer.get_labels(d["x_test"], d["y_test"])
        fakes = self.generate(d["z_test"], labels.astype(np.int32)).numpy()
        percent, modes, kl = metrics.percent_good(fakes, self.means, self.sigma)
        line = format_log_line(epoch, it, dloss, gloss, percent, modes, kl)
        with open(os.path.join(self.run_dir, "log.txt"), "a") as f:
            f.write(line + "\n")
        plots.plot_generated(fakes, d["x_test"], os.path.join(self.run_dir, "all", f"{it}.png"),
                             os.path.join(self.run_dir, "all", f"{it}square.png"), title=f"it {it}")
        plots.plot_clusters(d["x_test"], labels, os.path.join(self.run_dir, "clusters", f"{it}.png"), title=f"it {it}")
        return line

    def reference_metrics(self):
        """The metrics of the test set itself: what a perfect G reaches with the test set's labels. Its reverse KL is
        the multinomial noise of the test set's mode counts, and a perfect G inherits it (fakes get the test
        points' labels); about (K - 1) / (2 N), 7e-5 for the ring and 2.4e-4 for the grid with N = 50k."""
        percent, modes, kl = metrics.percent_good(self.data["x_test"], self.means, self.sigma)
        return {"prop_real": percent, "modes": modes, "kl": kl}

    # === Training ===

    def train(self):
        o = self.o
        for sub in ("all", "snapshots", "clusters"):
            os.makedirs(os.path.join(self.run_dir, sub), exist_ok=True)
        self.data = self._data()
        self._build()
        self.checkpoints = tf.train.CheckpointManager(self._checkpoint(), self.snapshot_dir, max_to_keep=2,
                                                      checkpoint_name="ckpt")
        log_path = os.path.join(self.run_dir, "log.txt")
        last = self._restore()
        total = o.total_iters
        if last is None:
            if os.path.exists(log_path):
                os.remove(log_path)
            self.clusterer.recluster()  # the first clustering, on the randomly initialised D
            start = 0
        else:
            # Lines written after the checkpoint (an interrupted run) are dropped: they will be written again.
            kept = [r for r in read_log(log_path) if r["it"] <= last]
            with open(log_path + ".tmp", "w") as f:
                f.writelines(format_log_line(r["epoch"], r["it"], r["dloss"], r["gloss"], r["prop_real"],
                                             r["modes"], r["kl"]) + "\n" for r in kept)
            os.replace(log_path + ".tmp", log_path)
            start = last + 1
            if start >= total:
                self.log(f"{self.run_dir}: done ({total} iterations)")
                return read_log(log_path)
            self.log(f"{self.run_dir}: resuming at iteration {start} of {total}")

        d = self.data
        per_epoch = o.iters_per_epoch
        order, order_epoch = None, -1
        tick_start, tick_steps, eval_seconds = time.perf_counter(), 0, 0.0
        it = start
        for it in range(start, total):
            epoch, i = divmod(it, per_epoch)
            if epoch != order_epoch:
                order = np.random.default_rng([self.data_seed, 1, epoch]).permutation(o.npts)
                order_epoch = epoch
            idx = order[i * o.train_batch_size:(i + 1) * o.train_batch_size]
            x_real, y_gt = d["x_train"][idx], d["y_train"][idx]
            y = self.clusterer.get_labels(x_real, y_gt)
            z = np.random.default_rng([self.z_seed, it]).standard_normal((len(x_real), o.z_dim), np.float32)
            dloss, gloss = self.train_step(x_real, y.astype(np.int32), z)
            tick_steps += 1
            if it % o.recluster_every == 0 and it >= o.burnin_time and o.clusterer != "supervised":
                self.clusterer.recluster(x_batch=x_real)
            if it % o.eval_every == 0:
                eval_start = time.perf_counter()
                line = self.evaluate(it, epoch, float(dloss), float(gloss))
                self.save_checkpoint(it)
                now = time.perf_counter()
                eval_seconds += now - eval_start
                per_kit = (now - tick_start) / max(tick_steps, 1) * 1000
                self.log(f"{line}  ({per_kit:.1f} s/1k it incl. eval {eval_seconds:.1f} s; "
                         f"load {os.getloadavg()[0]:.1f})")
                tick_start, tick_steps, eval_seconds = now, 0, 0.0
        if (total - 1) % o.eval_every != 0:
            self.save_checkpoint(total - 1)
        save_keras_atomic(self.G, os.path.join(self.run_dir, "generator.keras"))
        save_keras_atomic(self.D, os.path.join(self.run_dir, "discriminator.keras"))
        return read_log(log_path)


def summarize(records_per_run, references=None, last=LAST_EVALS):
    """Per run: mean of its last `last` evaluations (and the test set's own metrics, `references`, when given);
    across runs: mean, std (ddof 0), min and max of each."""
    per_run = []
    for i, records in enumerate(records_per_run):
        tail = records[-last:]
        per_run.append({key: float(np.mean([r[key] for r in tail])) for key in ("modes", "prop_real", "kl")}
                       | {"its": [r["it"] for r in tail]})
        if references:
            per_run[-1]["test_set"] = references[i]
    summary = {"runs": per_run}
    for key in ("modes", "prop_real", "kl"):
        for name, get in (("", lambda r: r[key]), ("test_set_", lambda r: r["test_set"][key])):
            if name and not references:
                continue
            values = np.array([get(r) for r in per_run], np.float64)
            summary[name + key] = {"mean": float(values.mean()), "std": float(values.std()),
                                   "min": float(values.min()), "max": float(values.max())}
    return summary


def write_summary(path, summary, options):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"options": dataclasses.asdict(options), **summary}, f, indent=2)
    os.replace(tmp, path)
