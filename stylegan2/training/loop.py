"""The one training loop, for every method (NV:training/training_loop.py, ADA training_loop.py, in TF2).

Per iteration, in NVIDIA TF1's order: G main step; G regularization every G_reg_interval iterations; D main step
on a real batch, then the G_ema update; D regularization (R1) on the next real batch every D_reg_interval
iterations. Lazy regularization counts from iteration 0 and corrects Adam (NV, ADA): lr *= c and betas **= c with
c = interval / (interval + 1); main and regularization steps share one optimizer (and its moments) per network.

Each phase is one `tf.function` around `strategy.run`; losses are averaged over the global batch and gradients
summed over replicas, so one device and N replicas take the same step. The run directory receives
training_options.json, log.txt, TensorBoard events, reals.png / fakes<kimg>.png, `.keras` network snapshots and a
checkpoint that resumes exactly (weights, optimizer moments, counters, EMA, pl_mean, w_avg, RNG, method state).
"""

import math
import os
import resource
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from stylegan2 import faults
from stylegan2 import precision as mixed_precision
from stylegan2.dataset import ImageDataset
from stylegan2.errors import UserError
from stylegan2.images import save_grid
from stylegan2.rundir import create_run_dir
from stylegan2.training import snapshot
from stylegan2.training.checkpoints import CheckpointWriter
from stylegan2.training.method import StepContext, get_method
from stylegan2.training.strategy import is_chief, make_strategy


class TrainingDiverged(UserError):
    """A loss became NaN or infinite."""


class _Tee:
    """Copies stdout to log.txt (NVIDIA's run logs are stdout tees)."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)
        self.stdout = sys.stdout

    def write(self, text):
        self.stdout.write(text)
        self.file.write(text)

    def flush(self):
        self.stdout.flush()
        self.file.flush()

    def close(self):
        self.file.close()


def format_time(seconds):
    s = int(np.rint(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02d}m"
    return f"{s // 86400}d {(s // 3600) % 24:02d}h"


def peak_memory_gb():
    """Peak memory: the first GPU's TensorFlow allocator peak, else this process's peak resident set."""
    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class TrainingLoop:
    """Builds everything from TrainingOptions and trains: `TrainingLoop(options).train()`."""

    def __init__(self, options, strategy=None):
        self.options = options
        if options.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.strategy = strategy or make_strategy(options.num_gpus)
        self.is_chief = is_chief(self.strategy)
        self._resolve_precision()
        self.method = get_method(options.method)(options)
        self.dataset = ImageDataset(options.dataset_path)
        if options.conditional and not self.dataset.label_dim:
            raise UserError(f"--cond=true: {self.dataset.path} has no labels to condition on; drop --cond or create "
                            f"the dataset with labels (e.g. dataset_tool.py create_mnist, or --labels_from_dirs)")
        h = options.hparams
        self.batch = options.batch or h["batch_size"]
        replicas = self.strategy.num_replicas_in_sync
        if self.batch % replicas:
            raise UserError(f"--batch {self.batch}: must be divisible by the number of replicas ({replicas})")
        # Gradient accumulation (NVIDIA's minibatch_gpu, ADA's batch_gpu): each replica runs its batch in rounds of
        # batch_gpu samples and the optimizer steps once on the summed gradients.
        per_replica = self.batch // replicas
        self.batch_gpu = min(options.batch_gpu or per_replica, per_replica)
        if per_replica % self.batch_gpu:
            raise UserError(f"--batch-gpu {self.batch_gpu}: must divide the per-replica batch {per_replica} "
                            f"(--batch {self.batch} over {replicas} replica(s))")
        self.rounds = per_replica // self.batch_gpu
        mbstd = h.get("mbstd_group_size") or 1
        if self.batch_gpu % min(mbstd, self.batch_gpu):
            flag = "--batch-gpu" if self.rounds > 1 else "--batch"
            raise UserError(f"{flag} {self.batch_gpu if self.rounds > 1 else self.batch}: the per-replica batch of "
                            f"one round, {self.batch_gpu}, must be divisible by the minibatch-stddev group size {mbstd}")

        keras.utils.set_random_seed(options.seed)  # weight initialisation reproduces with the seed
        with self.strategy.scope():
            self.G, self.D = self.method.build_networks(self.dataset)
            self._apply_precision(self.G, self.D)
            self.G_ema = self._apply_precision(snapshot.clone_model(self.G))[0]
            self.G_opt = self._adam(h["G_reg_interval"])
            self.D_opt = self._adam(h["D_reg_interval"])
            self.G_opt.build(self.G.trainable_variables)
            self.D_opt.build(self.D.trainable_variables)
            self.pl_mean = tf.Variable(0.0, trainable=False, name="pl_mean",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            # float16: one loss scale per phase, as NVIDIA keeps one per optimizer (TrainG, RegG, TrainD, RegD).
            self.loss_scales = {}
            if self.precision == "fp16":
                self.loss_scales = {phase: mixed_precision.DynamicLossScale(phase) for phase in PHASES}
        self.rng = tf.random.Generator.from_seed(options.seed)  # host side: seeds each step's stateless draws
        self.progress = tf.Variable([0, 0, 0], dtype=tf.int64, trainable=False, name="progress")  # step, nimg, reals
        self.step = self.nimg = self.reals_consumed = self.tick = 0
        self.last_snapshot = None
        self.snapshot = None  # the NetworkSnapshot last saved (its metadata and extras feed the metrics)

    def _resolve_precision(self):
        """The run's precision: --precision (auto measured now, with the strategy in place), or on resume the one it
        started with (recorded in training_options.json as resolved_precision)."""
        o = self.options
        if o.resolved_precision:
            self.precision, self.precision_note = o.resolved_precision, None
        else:
            # Workers of a multi-worker run decide alike: from the device, not from a timing.
            multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
            self.precision, self.precision_note = mixed_precision.resolve(o.precision, measure=not multi_worker)
            o.resolved_precision = self.precision

    def _apply_precision(self, *models):
        """The run's precision on its networks (stylegan2.precision.apply_precision); returns the models."""
        for model in models:
            mixed_precision.apply_precision(model, self.precision, self.options.fp16_res)
        return models

    def describe_precision(self):
        """One line for log.txt: the precision and, when reduced, what computes in it."""
        o = self.options
        if self.precision == "fp32":
            text = "float32"
        else:
            first = mixed_precision.fp16_resolution(self.dataset.resolution, o.fp16_res)
            text = (f"{mixed_precision.compute_dtype(self.precision)} at {first}x{first} and above (--fp16-res "
                    f"{o.fp16_res}), float32 below; conv_clamp {self.G.synthesis.conv_clamp}"
                    + (", dynamic loss scaling" if self.precision == "fp16" else ""))
        if o.precision == "auto" and self.precision_note:
            text += f" (auto: {self.precision_note})"
        return text

    def _adam(self, interval):
        beta1, beta2 = self.options.hparams["betas"]
        ratio = _lazy_ratio(interval)
        return keras.optimizers.Adam(learning_rate=self._lr(interval), beta_1=beta1 ** ratio, beta_2=beta2 ** ratio,
                                     epsilon=self.options.hparams["eps"])

    def _lr(self, interval):
        return self.options.hparams["lr"] * _lazy_ratio(interval)

    # === Steps ===

    def label_table(self, rows):
        """Labels of dataset records for fakes; [N, 0] for unconditional training."""
        if not self.options.conditional:
            return tf.zeros([tf.shape(rows)[0], 0])
        return self.dataset.labels_of(rows)

    def condition(self, labels):
        """The real labels D sees: the dataset's rows when conditional, else [N, 0]."""
        return labels if self.options.conditional else labels[:, :0]

    def _phase(self, phase, optimizer, variables, global_batch, gain=1, loss_scale=None):
        """A distributed, compiled optimizer step for one phase; returns {stat: (sum, count)} over all replicas.
        `inputs` are what `Method.phase_inputs` supplies (per-replica values, e.g. a batch of reals), split into
        `self.rounds` accumulation rounds along their first axis. The gradient is the mean over the whole step's
        samples (each round's per-sample losses are divided by the samples of all rounds and replicas), times
        `gain`: a lazy regularization phase that runs every k-th iteration counts k times (NV training_loop.py
        `tf.reduce_mean(G_reg * G_reg_interval)`, ADA loss.py `.mul(gain)` with gain = phase.interval).

        With a `loss_scale` (float16, stylegan2.precision.DynamicLossScale) the loss is scaled before
        differentiation and the gradients unscaled; a step whose gradients are not all finite on every replica is
        skipped, its loss statistics are left out, and the stats `Precision/<phase>/loss_scale_log2` and
        `.../overflow` (1 for a skipped step) are added."""
        rounds = self.rounds
        gain = float(gain)

        def replica_grads(seed, *inputs):
            """(summed gradients, {stat: (sum, count)}) of this replica's rounds, or None when the phase is off."""
            chunks = [tf.split(x, rounds) if rounds > 1 else [x] for x in inputs]
            scale = None if loss_scale is None else loss_scale.scale()
            grads, stats = None, {}
            for r in range(rounds):
                # Each round starts once the previous one has its gradients: rounds never hold memory together.
                with tf.control_dependencies(grads or []):
                    ctx = StepContext(self, seed, global_batch // rounds, r, rounds, loss_scale=scale)
                    with tf.GradientTape() as tape:
                        result = phase(ctx, *(c[r] for c in chunks))
                        if result is None:
                            return None
                        loss, round_stats = result
                        total = tf.nn.compute_average_loss(
                            loss, global_batch_size=loss.shape[0] * ctx.draws.num_replicas * rounds)
                        if gain != 1:
                            total = total * gain
                        if scale is not None:
                            total = total * scale
                    round_grads = [g if g is not None else tf.zeros_like(v)
                                   for g, v in zip(tape.gradient(total, variables), variables)]
                grads = round_grads if grads is None else [a + g for a, g in zip(grads, round_grads)]
                for name, v in round_stats.items():
                    s, n = stats.get(name, (0.0, 0.0))
                    stats[name] = (s + tf.reduce_sum(v), n + tf.cast(tf.size(v), tf.float32))
            if scale is not None:
                grads = [g / scale for g in grads]
            return grads, stats

        def reduce_sum(per_replica):
            return tf.nest.map_structure(lambda t: self.strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None),
                                         per_replica)

        if loss_scale is None:
            def replica_step(seed, *inputs):
                result = replica_grads(seed, *inputs)
                if result is None:
                    return {}
                grads, stats = result
                optimizer.apply(grads, variables)
                return stats

            @tf.function(autograph=False)  # plain TF code: AutoGraph's conversion only costs tracing time
            def step(seed, *inputs):
                return reduce_sum(self.strategy.run(replica_step, args=(seed, *inputs)))

            return step

        def replica_scaled(seed, *inputs):
            result = replica_grads(seed, *inputs)
            if result is None:
                return None
            grads, stats = result
            nonfinite = tf.cast(tf.logical_not(tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])),
                                tf.float32)
            return grads, stats, nonfinite

        @tf.function(autograph=False)
        def scaled_step(seed, *inputs):
            result = self.strategy.run(replica_scaled, args=(seed, *inputs))
            if result is None:
                return {}
            grads, stats, nonfinite = result
            finite = self.strategy.reduce(tf.distribute.ReduceOp.SUM, nonfinite, axis=None) == 0

            def apply():
                # The optimizer's update (with its all-reduce) runs in the replicas, only when every replica's
                # gradients are finite; a cond in a replica context cannot hold the update's merge_call.
                self.strategy.run(lambda *g: optimizer.apply(list(g), variables), args=tuple(grads))
                return tf.constant(True)

            applied = tf.cond(finite, apply, lambda: tf.constant(False))
            with tf.control_dependencies([applied]):
                log2 = loss_scale.update(finite)
            out = {name: (tf.where(finite, s, 0.0), tf.where(finite, n, 0.0)) for name, (s, n) in reduce_sum(stats).items()}
            out[f"Precision/{loss_scale.name}/loss_scale_log2"] = (log2, tf.constant(1.0))
            out[f"Precision/{loss_scale.name}/overflow"] = (1.0 - tf.cast(finite, tf.float32), tf.constant(1.0))
            return out

        return scaled_step

    def _build_steps(self):
        G_vars, D_vars = self.G.trainable_variables, self.D.trainable_variables
        m = self.method
        scales = self.loss_scales
        self.g_main_step = self._phase(m.g_main, self.G_opt, G_vars, self.batch, loss_scale=scales.get("G_main"))
        h = self.options.hparams
        self.g_reg_step = self._phase(m.g_reg, self.G_opt, G_vars, self.batch, gain=h["G_reg_interval"] or 1,
                                      loss_scale=scales.get("G_reg"))
        self.d_main_step = self._phase(m.d_main, self.D_opt, D_vars, self.batch, loss_scale=scales.get("D_main"))
        self.d_reg_step = self._phase(m.d_reg, self.D_opt, D_vars, self.batch, gain=h["D_reg_interval"] or 1,
                                      loss_scale=scales.get("D_reg"))
        pairs = snapshot.matching_weights(self.G_ema, self.G)

        @tf.function(autograph=False)
        def ema_step(beta):
            for ema, src, trainable in pairs:
                ema.assign(src + (ema - src) * beta if trainable else src)  # lerp(G, G_ema, beta); buffers copied

        self.ema_step = ema_step

    def ema_beta(self):
        """G_ema's decay per step: half-life ema_kimg (NV: Gs_beta = 0.5 ** (minibatch / (G_smoothing_kimg * 1000)));
        with ema_rampup (ADA), the half-life is at most ema_rampup x the images seen so far, for short runs."""
        h = self.options.hparams
        ema_nimg = h["ema_kimg"] * 1000.0
        if h.get("ema_rampup"):
            ema_nimg = min(ema_nimg, self.nimg * h["ema_rampup"])
        return 0.5 ** (self.batch / max(ema_nimg, 1e-8))

    def phases(self, step):
        """The phases of iteration `step`, in NVIDIA TF1's order (lazy regularization counts from step 0)."""
        h = self.options.hparams
        G_reg = bool(h["G_reg_interval"]) and step % h["G_reg_interval"] == 0
        D_reg = bool(h["D_reg_interval"]) and step % h["D_reg_interval"] == 0
        return ["G_main"] + (["G_reg"] if G_reg else []) + ["D_main"] + (["D_reg"] if D_reg else [])

    def train_iteration(self):
        """One iteration (all phases); returns {stat: (sum, count)}."""
        phases = self.phases(self.step)
        seeds = self.rng.make_seeds(4)
        stats = {}

        def run(phase, step, seed):
            for name, (total, count) in step(seed, *self.method.phase_inputs(phase, self)).items():
                s, n = stats.get(name, (0.0, 0.0))
                stats[name] = (s + float(total), n + float(count))

        run("G_main", self.g_main_step, seeds[:, 0])
        if "G_reg" in phases:
            run("G_reg", self.g_reg_step, seeds[:, 1])
        run("D_main", self.d_main_step, seeds[:, 2])
        self.ema_step(tf.constant(self.ema_beta(), tf.float32))
        if "D_reg" in phases:
            run("D_reg", self.d_reg_step, seeds[:, 3])
        self.step += 1
        self.nimg += self.batch
        for name, (total, _) in stats.items():
            if not math.isfinite(total):
                raise self.diverged(f"{name} is {total}")
            if name.endswith("/loss_scale_log2") and total < mixed_precision.DynamicLossScale.MIN_LOG2:
                raise self.diverged(f"the float16 loss scale of {name.split('/')[1]} fell to 2^{total:g}: its "
                                    f"gradients are not finite at any scale")
        return stats

    def nonfinite_state(self):
        """Names of the trained state's variables holding NaN or infinity (weights, G_ema, optimizer moments,
        pl_mean, the method's checkpointed state): checked before anything is written."""
        bad = []
        named = [(f"{m.name}/{w.path}", w) for m in (self.G, self.D, self.G_ema) for w in m.weights]
        named += [(f"{opt}/{v.path}", v) for opt in ("G_opt", "D_opt") for v in getattr(self, opt).variables]
        named += [("pl_mean", self.pl_mean)]
        named += [(f"method/{k}", v) for k, v in self.method.checkpoint_items().items() if hasattr(v, "dtype")]
        for name, variable in named:
            value = np.asarray(variable)
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                bad.append(name)
        return bad

    def diverged(self, what):
        """The error that stops a diverged run: what went wrong, the last snapshot and checkpoint that are finite
        (nothing non-finite is ever written), and a resume command with a change that exists."""
        latest = self.checkpoints.latest() if getattr(self, "checkpoints", None) else None
        lr = self.options.hparams["lr"]
        if latest:
            iteration = int(latest.rsplit("-", 1)[1])
            advice = (f"the last good checkpoint is {latest} (iteration {iteration}) and the last good snapshot "
                      f"{snapshot.latest_snapshot(self.run_dir) or 'none'}; resume from the checkpoint with a change: "
                      f"python run_training.py --resume {self.run_dir} --lr {lr / 2:g} (or --gamma G; the README "
                      f"lists what may change on resume)")
        else:
            advice = (f"nothing was saved yet; start it again with a change: python run_training.py --resume "
                      f"{self.run_dir} --lr {lr / 2:g} (or --gamma G)")
        return TrainingDiverged(f"training diverged at kimg {self.nimg / 1000:.3f} (iteration {self.step}): {what}; "
                                f"{advice}")

    def check_finite(self):
        bad = self.nonfinite_state()
        if bad:
            more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
            raise self.diverged(f"non-finite values in {bad[0]}{more}")

    def next_reals(self):
        """The next batch of the training stream: per-replica (images, labels, record indices)."""
        with self.dataset.read_errors():
            images, labels, indices = next(self.data_iter)
        self.reals_consumed += self.batch
        return images, labels, indices

    # === Checkpoints and snapshots ===

    def _checkpoint(self):
        # Variables are listed explicitly: tf.train.Checkpoint does not follow Keras 3 models' sub-layers (it would
        # reach most weights only through the optimizers and miss G_ema's).
        def weights(model):
            return {w.path.replace("/", "."): w.value for w in model.weights}

        return tf.train.Checkpoint(G=weights(self.G), D=weights(self.D), G_ema=weights(self.G_ema),
                                   G_opt=[v.value for v in self.G_opt.variables],
                                   D_opt=[v.value for v in self.D_opt.variables],
                                   pl_mean=self.pl_mean, rng=self.rng, progress=self.progress,
                                   method=tf.train.Checkpoint(**self.method.checkpoint_items()),
                                   **({"loss_scales": {k: v.log2 for k, v in self.loss_scales.items()}}
                                      if self.loss_scales else {}))

    def save_checkpoint(self):
        self.check_finite()
        self.progress.assign([self.step, self.nimg, self.reals_consumed])
        self.checkpoints.save(self.step)

    def restore(self):
        """Restores the latest checkpoint of the run directory; returns False when it has none. The learning rates
        are the options' (the optimizers' checkpointed ones are replaced: --lr may change on resume)."""
        latest = self.checkpoints.latest()
        if latest is None:
            return False
        self._checkpoint().restore(latest).assert_consumed()
        self.step, self.nimg, self.reals_consumed = (int(v) for v in self.progress.numpy())
        for optimizer, interval in ((self.G_opt, "G_reg_interval"), (self.D_opt, "D_reg_interval")):
            optimizer.learning_rate = self._lr(self.options.hparams[interval])
        return True

    def kimg_tag(self):
        """NVIDIA's %06d kimg in file names, with 3 decimals when ticks are shorter than 1 kimg (CPU-scale runs)."""
        return f"{self.nimg // 1000:06d}" if self.nimg % 1000 == 0 else f"{self.nimg / 1000:010.3f}"

    def snapshot_path(self):
        return os.path.join(self.run_dir, f"network-snapshot-{self.kimg_tag()}.keras")

    def snapshot_metadata(self):
        o = self.options
        return {"kimg": self.nimg / 1000, "step": self.step, "method": o.method, "config": o.config,
                "precision": self.precision, "fp16_res": o.fp16_res,
                "dataset": self.dataset.path, "conditional": o.conditional, "method_options": o.method_options,
                "sampling": self.method.sampling_metadata(self)}

    def save_snapshot(self, path=None):
        """Writes the network snapshot of this moment (finite check, atomic write). `path`: another name for it (a
        method's extra snapshot, e.g. the best one so far), which does not become the run's last snapshot."""
        self.check_finite()
        if path is not None:
            return snapshot.save_snapshot(path, self.G, self.D, self.G_ema, extras=self.method.snapshot_extras(self),
                                          metadata=self.snapshot_metadata())
        path = self.snapshot_path()
        self.snapshot = snapshot.save_snapshot(path, self.G, self.D, self.G_ema,
                                               extras=self.method.snapshot_extras(self),
                                               metadata=self.snapshot_metadata())
        self.last_snapshot = path
        return path

    # === Image grids ===

    def _setup_grid(self):
        cols, rows = self.options.grid_size(self.dataset.resolution)
        num = cols * rows
        images, labels = [], []
        for batch_images, batch_labels, _ in self.dataset.iterate_numpy(batch_size=min(num, 256)):
            images.append(batch_images)
            labels.append(batch_labels)
            if sum(len(b) for b in images) >= num:
                break
        reals = np.concatenate(images)[:num]
        self.grid_cols = cols
        self.grid_labels = np.asarray(self.method.grid_labels(self, np.concatenate(labels)[:num]), np.float32)
        rnd = np.random.RandomState(self.options.seed)
        self.grid_z = rnd.randn(len(reals), self.G.z_dim).astype(np.float32)
        self.grid_noise = [rnd.randn(len(reals), h, w, 1).astype(np.float32) for h, w in self.G.synthesis.noise_shapes]
        return reals

    def save_fakes(self, name):
        images = []
        for start in range(0, len(self.grid_z), 64):
            sl = slice(start, start + 64)
            images.append(np.asarray(self.G_ema(self.grid_z[sl], self.grid_labels[sl],
                                                noise=[n[sl] for n in self.grid_noise])))
        save_grid(np.concatenate(images), os.path.join(self.run_dir, name), cols=self.grid_cols)

    # === The loop ===

    def _open_run_dir(self):
        """The run directory; on a non-chief worker of a multi-worker run, a private temporary directory (every
        worker must write its checkpoints, only the chief's are kept; NV's convention)."""
        o = self.options
        resume_dir = o.resume if o.resume and os.path.isdir(o.resume) else None
        if not self.is_chief:
            self.run_dir = tempfile.mkdtemp(prefix="stylegan2-worker-")
        elif resume_dir:
            self.run_dir = resume_dir
        else:
            desc = f"{o.method}-{os.path.basename(os.path.normpath(o.dataset_path))}-{o.config}-{o.num_gpus}gpu"
            desc += "-cond" if o.conditional else ""
            desc += "-mirror" if o.mirror_augment else ""
            desc += self.method.describe()
            self.run_dir = create_run_dir(o.result_dir, desc)
        if self.is_chief:
            o.run_dir = self.run_dir
            o.save(os.path.join(self.run_dir, "training_options.json"))
        self.checkpoints = CheckpointWriter(os.path.join(self.run_dir, "checkpoints"), self._checkpoint(), keep=2)
        if resume_dir and self.is_chief:
            remove_temporaries(self.run_dir)
            self.checkpoints.clean()
        return resume_dir

    def train(self):
        """Runs until total_kimg; returns the run directory. A new run directory that a bad input stops before its
        first checkpoint is removed again (nothing half-made is left behind)."""
        resume_dir = self._open_run_dir()
        tee = _Tee(os.path.join(self.run_dir, "log.txt"))
        sys.stdout = tee
        try:
            return self._train(resume_dir)
        except UserError as err:
            if self.is_chief and not resume_dir and not isinstance(err, TrainingDiverged) and \
                    self.checkpoints.latest() is None:
                tee.close()
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        finally:
            sys.stdout = tee.stdout
            tee.close()
            if not self.is_chief:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def prepare(self, resume_dir=None):
        """Restores a run directory's checkpoint (exact resume) or a snapshot's weights (--resume FILE), else starts
        G_ema as a copy of G; opens the data stream at the right position; compiles the steps. Returns whether a
        checkpoint was restored."""
        o = self.options
        resumed = False
        if resume_dir:
            resumed = self.restore()
            if not resumed:
                # Killed before its first checkpoint (snapshots come after checkpoints): start it again.
                print(f"No checkpoint in {resume_dir} yet: the run starts from the beginning")
        if o.resume and not resume_dir:
            meta = self.method.load_weights(self, o.resume)
            self.nimg = int(meta.get("kimg", 0) * 1000)
            print(f"Initialised from {o.resume} (kimg {self.nimg / 1000:.1f}); optimizer state starts fresh")
        elif not resumed:
            self.ema_init()
        self.data_iter = iter(self.dataset.distributed_pipeline(
            self.strategy, self.batch, shuffle=True, mirror=o.mirror_augment, seed=o.seed,
            start_image=self.reals_consumed, **self.method.pipeline_options(self)))
        self._build_steps()
        return resumed

    def _train(self, resume_dir):
        o = self.options
        resumed = self.prepare(resume_dir)
        print(f"Run directory: {self.run_dir}")
        print(f"Method {o.method}, config {o.config}, dataset {self.dataset.path} "
              f"({self.dataset.num_images} images, {self.dataset.resolution}x{self.dataset.resolution}x"
              f"{self.dataset.channels}), {self.strategy.num_replicas_in_sync} replica(s), batch {self.batch}"
              + (f" in {self.rounds} accumulation rounds of {self.batch_gpu} per replica" if self.rounds > 1 else ""))
        print(f"G: {count_params(self.G):,} parameters; D: {count_params(self.D):,} parameters")
        print(f"Precision: {self.describe_precision()}")
        if resumed:
            print(f"Resumed from the checkpoint at kimg {self.nimg / 1000:.1f} (iteration {self.step})")
        reals = self._setup_grid()
        if not resumed and self.is_chief:
            save_grid(reals, os.path.join(self.run_dir, self.method.reals_grid), cols=self.grid_cols)
            self.save_fakes(self.method.fakes_grid.format(kimg="_init"))
        self.method.on_start(self)
        faults.point("start")
        summary = tf.summary.create_file_writer(self.run_dir)
        total_nimg = int(o.total_kimg * 1000)
        tick_nimg = int(o.tick_kimg(self.dataset.resolution) * 1000)
        # A tick is a fixed number of iterations, so a resumed run (restored at a tick's end) continues the tick
        # count, and with it the snapshot schedule, of the uninterrupted run.
        self.tick = self.step // max(1, -(-tick_nimg // self.batch))
        if resumed and self.is_chief:
            self._finish_interrupted_snapshot(summary, total_nimg)
        tick_start_nimg, tick_start_time = self.nimg, time.time()
        train_start_time, start_nimg = tick_start_time, self.nimg
        maintenance = 0.0
        sums = {}
        done = self.nimg >= total_nimg

        while not done:
            stats = self.train_iteration()
            self.method.on_step(self)
            for name, (s, n) in stats.items():
                a, b = sums.get(name, (0.0, 0.0))
                sums[name] = (a + s, b + n)
            done = self.nimg >= total_nimg
            if not done and self.nimg < tick_start_nimg + tick_nimg:
                continue

            # Tick: log, then checkpoint, then snapshot (a snapshot exists only once its checkpoint does).
            self.tick += 1
            tick = self.tick
            now = time.time()
            tick_time = now - tick_start_time
            tick_kimg = (self.nimg - tick_start_nimg) / 1000
            sec_per_kimg = tick_time / max(tick_kimg, 1e-8)
            values = {name: s / max(n, 1) for name, (s, n) in sorted(sums.items())}
            self.method.on_tick(self, values)
            mem = peak_memory_gb()
            eta = max(total_nimg - self.nimg, 0) / 1000 * sec_per_kimg
            print(f"tick {tick:<5d} kimg {self.nimg / 1000:<8.1f} minibatch {self.batch:<4d} "
                  f"time {format_time(now - train_start_time):<12s} sec/tick {tick_time:<7.1f} "
                  f"sec/kimg {sec_per_kimg:<7.2f} maintenance {maintenance:<6.1f} "
                  f"img/s {1000 * tick_kimg / max(tick_time, 1e-8):<7.1f} peak_mem {mem:.2f}GB "
                  f"ETA {format_time(eta):<10s} " + " ".join(f"{k} {v:.4f}" for k, v in values.items()), flush=True)
            with summary.as_default(step=self.nimg):
                for name, value in values.items():
                    tf.summary.scalar(name, value)
                tf.summary.scalar("Progress/kimg", self.nimg / 1000)
                tf.summary.scalar("Timing/sec_per_tick", tick_time)
                tf.summary.scalar("Timing/sec_per_kimg", sec_per_kimg)
                tf.summary.scalar("Timing/img_per_sec", 1000 * tick_kimg / max(tick_time, 1e-8))
                tf.summary.scalar("Resources/peak_mem_gb", mem)
            summary.flush()
            sums = {}

            faults.point("tick")
            maintenance_start = time.time()
            snapshot_due = done or tick % o.snapshot_ticks == 0
            if snapshot_due or tick % o.checkpoint_ticks == 0:
                self.save_checkpoint()
            if snapshot_due and self.is_chief:
                self._snapshot_outputs(summary)
            maintenance = time.time() - maintenance_start
            tick_start_nimg, tick_start_time = self.nimg, time.time()

        print(f"Done: {self.nimg / 1000:.1f} kimg in {format_time(time.time() - train_start_time)} "
              f"({(self.nimg - start_nimg) / max(time.time() - train_start_time, 1e-8):.1f} img/s). "
              f"Last snapshot: {self.last_snapshot}", flush=True)
        if self.is_chief:
            with open(os.path.join(self.run_dir, "_finished.txt"), "w"):
                pass
        return self.run_dir

    def _snapshot_outputs(self, summary):
        """The fakes grid, the network snapshot, the method's snapshot hook and the metrics of this moment."""
        self.save_fakes(self.method.fakes_grid.format(kimg=self.kimg_tag()))
        self.save_snapshot()
        self.method.on_snapshot(self, self.nimg / 1000)
        if self.options.metrics:
            with summary.as_default(step=self.nimg):
                for name, value in self.compute_metrics().items():
                    tf.summary.scalar(f"Metrics/{name}", value)

    def _finish_interrupted_snapshot(self, summary, total_nimg):
        """A run killed between a checkpoint and its snapshot resumes by writing that snapshot first."""
        due = self.tick > 0 and (self.tick % self.options.snapshot_ticks == 0 or self.nimg >= total_nimg)
        if due and not os.path.exists(self.snapshot_path()):
            print(f"Writing the snapshot of kimg {self.nimg / 1000:.3f} that the interrupted run did not finish")
            self._snapshot_outputs(summary)

    def compute_metrics(self):
        """--metrics on G_ema at a snapshot: printed to log.txt, appended to metric-<name>.jsonl (chief only)."""
        from stylegan2.metrics import protocols  # noqa: F401  (registers the metrics)
        from stylegan2.metrics.runner import MetricContext, run_metrics

        sampling = type(self.method).sampling(self.snapshot)
        if getattr(self, "metric_context", None) is None:
            # Generation runs on every replica of a one-machine strategy; a multi-worker chief generates alone.
            strategy = self.strategy if isinstance(self.strategy, tf.distribute.MirroredStrategy) else None
            self.metric_context = MetricContext(sampling.prepare(self.G_ema), self.dataset, strategy=strategy,
                                                mirror=self.options.mirror_augment, sampling=sampling,
                                                snapshot=self.snapshot, **self.options.metric_settings)
        # The context (and its traced generator) lives across snapshots; what a snapshot records (how labels are
        # drawn, a method's extras such as cluster centroids) is this snapshot's.
        self.metric_context.sampling, self.metric_context.snapshot = sampling, self.snapshot
        return run_metrics(self.metric_context, self.options.metrics, run_dir=self.run_dir,
                           snapshot=self.last_snapshot, kimg=self.nimg / 1000)

    def ema_init(self):
        """G_ema starts as a copy of G (NV: Gs = G.clone())."""
        for ema, src, _ in snapshot.matching_weights(self.G_ema, self.G):
            ema.assign(src)


PHASES = ("G_main", "G_reg", "D_main", "D_reg")


def _lazy_ratio(interval):
    """Lazy regularization's correction of Adam (NV, ADA mb_ratio): lr *= c, betas **= c, c = interval / (interval + 1)."""
    return interval / (interval + 1) if interval else 1.0


def remove_temporaries(run_dir):
    """Removes the temporary files of writes a kill interrupted (`<name>.tmp-<pid>.<ext>`: snapshots, image grids)."""
    for entry in os.listdir(run_dir):
        if ".tmp-" in entry and os.path.isfile(os.path.join(run_dir, entry)):
            os.remove(os.path.join(run_dir, entry))


def count_params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))

