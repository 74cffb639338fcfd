"""The method seam: what a GAN method supplies to the one training loop, and the registry of methods.

The loop (stylegan2/training/loop.py) owns the strategy, optimizers, lazy regularization, EMA, ticks, logging,
snapshots and resume. A method supplies only what differs:
  - `build_networks(dataset)`: G and D (called inside the strategy scope);
  - the loss of each phase, per sample: `g_main`, `g_reg`, `d_main`, `d_reg` (defaults: StyleGAN2's), and the
    inputs each phase takes per iteration, `phase_inputs` (default: a batch of reals for D's phases, nothing for G's);
  - hooks on the schedule: `on_start`, `on_step`, `on_tick`, `on_snapshot`;
  - its own state, saved and restored with the checkpoint: `checkpoint_items()`.
Phase functions run inside `strategy.run` under `tf.function`; all their randomness comes from `ctx.draws`, which
draws for the GLOBAL batch and slices this replica's part, so one device and N replicas compute the same step.
With gradient accumulation (`--batch-gpu` below the per-replica batch) a phase function runs once per round on
`ctx.global_batch` = batch_gpu x replicas samples; the draws of all rounds come from one draw for the whole step.
"""

import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.training.strategy import replica_info

_METHODS = {}


def register_method(cls):
    """Class decorator: makes a Method available as `run_training.py --method <cls.name>`."""
    _METHODS[cls.name] = cls
    return cls


def list_methods():
    return sorted(_METHODS)


def get_method(name):
    if name not in _METHODS:
        raise UserError(f"--method {name}: unknown method; choose one of {', '.join(list_methods())}")
    return _METHODS[name]


class Draws:
    """Stateless randomness for one phase of one step, identical whatever the replica count.

    Every draw is made for the global batch of the whole step (all rounds) from a seed derived from the step seed;
    this replica's rows of this round are then sliced out (slot round x replicas + replica). So one device and N
    replicas draw the same samples, and R rounds of b draw what one round of R x b draws. Scalars (the
    style-mixing cutoff) are shared by the whole step, as in NVIDIA's code they are by a whole minibatch.
    """

    def __init__(self, seed, global_batch, round_index=0, rounds=1):
        self.seed = seed
        self.global_batch = global_batch  # of one round
        self.round_index, self.rounds = round_index, rounds
        self.counter = 0
        self.replica, self.num_replicas = replica_info()

    def _next_seed(self):
        self.counter += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.counter)

    def _local(self, full, global_batch):
        per_replica = global_batch // self.num_replicas
        slot = self.round_index * self.num_replicas + self.replica
        return full[slot * per_replica:(slot + 1) * per_replica]

    def normal(self, shape, global_batch=None):
        """[per-replica batch, *shape] standard normal; `global_batch` is per round (default: the round's)."""
        global_batch = global_batch or self.global_batch
        full = tf.random.stateless_normal([global_batch * self.rounds, *shape], seed=self._next_seed())
        return self._local(full, global_batch)

    def uniform(self, shape, global_batch=None, minval=0.0, maxval=1.0, dtype=tf.float32):
        global_batch = global_batch or self.global_batch
        full = tf.random.stateless_uniform([global_batch * self.rounds, *shape], seed=self._next_seed(),
                                           minval=minval, maxval=maxval, dtype=dtype)
        return self._local(full, global_batch)

    def scalar(self, minval=0.0, maxval=1.0, dtype=tf.float32):
        """One value shared by every replica."""
        return tf.random.stateless_uniform([], seed=self._next_seed(), minval=minval, maxval=maxval, dtype=dtype)


class StepContext:
    """What a phase function sees: the networks, the options, the draws and the global batch size of one round
    (the whole step's when there is no gradient accumulation)."""

    def __init__(self, loop, seed, global_batch, round_index=0, rounds=1):
        self.loop = loop
        self.G = loop.G
        self.D = loop.D
        self.options = loop.options
        self.global_batch = global_batch
        self.draws = Draws(seed, global_batch, round_index, rounds)

    @property
    def local_batch(self):
        return self.global_batch // self.draws.num_replicas

    def random_labels(self, global_batch=None):
        """Label rows of uniformly drawn dataset records for the fakes ([b, 0] for unlabelled data)."""
        dataset = self.loop.dataset
        global_batch = global_batch or self.global_batch
        rows = self.draws.uniform([], global_batch, minval=0, maxval=dataset.num_images, dtype=tf.int64)
        return self.loop.label_table(rows)


class Method:
    """Base class: the StyleGAN2 defaults live in stylegan2.training.stylegan2_method.StyleGAN2Method."""

    name = None
    description = ""
    reals_grid = "reals.png"  # the run directory's image grids (NVIDIA's names)
    fakes_grid = "fakes{kimg}.png"  # {kimg}: the kimg tag, or "_init" before training

    def __init__(self, options):
        self.options = options

    def describe(self):
        """A suffix for the run directory's name (e.g. the method's key options)."""
        return ""

    # === Networks and state ===

    def build_networks(self, dataset):
        """Returns (G, D), built; called inside the strategy scope."""
        raise NotImplementedError

    def checkpoint_items(self):
        """Trackables (tf.Variables, ...) saved in the checkpoint and restored on resume."""
        return {}

    # === Loss per phase: each returns (per-sample loss [b], {stat name: per-sample values}) ===

    def phase_inputs(self, phase, loop):
        """The extra arguments of phase `phase` ('G_main', 'G_reg', 'D_main', 'D_reg') for this iteration, as
        per-replica values (e.g. from a distributed dataset iterator); called on the host before each phase runs."""
        return loop.next_reals() if phase.startswith("D") else ()

    def g_main(self, ctx):
        raise NotImplementedError

    def g_reg(self, ctx):
        return None

    def d_main(self, ctx, reals, labels, indices):
        raise NotImplementedError

    def d_reg(self, ctx, reals, labels, indices):
        return None

    # === Hooks (Python, between steps) ===

    def on_start(self, loop):
        pass

    def on_step(self, loop):
        pass

    def on_tick(self, loop, stats):
        """May add entries to `stats` (shown in log.txt and TensorBoard)."""

    def on_snapshot(self, loop, kimg):
        pass
