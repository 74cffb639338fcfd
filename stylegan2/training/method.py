"""The method seam: what a GAN method supplies to the one training loop, and the registry of methods.

The loop (stylegan2/training/loop.py) owns the strategy, optimizers, lazy regularization, EMA, ticks, logging,
snapshots and resume. A method is a plug-in: one package whose `Method` subclass declares everything it differs by.

  command line     `name`, `description`, `flags` (its options, an argparse group under its own heading in --help),
                   `infer_from_flags` (giving one of its flags selects it), `default_config`, and `configure`
                   (its defaults for the shared options: batch, ticks, kimg, EMA, minibatch-std group, ...; and the
                   validation of its options, with one-line errors);
  training         `build_networks(dataset)`: G and D (called inside the strategy scope); the loss of each phase,
                   per sample: `g_main`, `g_reg`, `d_main`, `d_reg`, and the inputs each phase takes per iteration,
                   `phase_inputs`; the training stream's extra pipeline arguments (a record subset, a per-image
                   augmentation), `pipeline_options`; hooks on the schedule: `on_start`, `on_step`, `on_tick`, `on_snapshot`; its state,
                   saved and restored with the checkpoint: `checkpoint_items()`; `load_weights` for --resume of a
                   snapshot file (fine-tuning); its image grids (`reals_grid`,
                   `fakes_grid`, `grid_labels`, and any others its hooks write);
  snapshots        `sampling_metadata(loop)`: how generation draws its labels and latents (stylegan2.sampling),
                   `snapshot_extras(loop)`: Keras objects stored beside G, D and G_ema;
  generation       `generation_flags` (e.g. a class, a cluster, a depth) and `sampling(snapshot, options)`, used by
                   run_generator.py, run_metrics.py and run_projector.py; its own metrics are registered with
                   stylegan2.metrics.registry.register_metric when its package is imported.

Discovery: methods register with `@register_method`; packages are found through the entry-point group
`stylegan2_family.methods` (pyproject.toml: `[project.entry-points."stylegan2_family.methods"]`, name = the module that
registers), so a third-party package adds a method with `pip install`, and the backbone never imports a method.

Phase functions run inside `strategy.run` under `tf.function`; all their randomness comes from `ctx.draws`, which
draws for the GLOBAL batch and slices this replica's part, so one device and N replicas compute the same step.
With gradient accumulation (`--batch-gpu` below the per-replica batch) a phase function runs once per round on
`ctx.global_batch` = batch_gpu x replicas samples; the draws of all rounds come from one draw for the whole step.
"""

import importlib
import importlib.metadata

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.sampling import Sampling
from stylegan2.training.strategy import replica_info

ENTRY_POINT_GROUP = "stylegan2_family.methods"
_METHODS = {}
_UNLOADABLE = {}  # entry-point name -> why its module did not import
_LOADED = False


def register_method(cls):
    """Class decorator: makes a Method available as `run_training.py --method <cls.name>`."""
    if not cls.name:
        raise TypeError(f"{cls.__name__}: a registered method needs a name")
    _METHODS[cls.name] = cls
    return cls


def load_methods():
    """Imports the module of every entry point in the group `stylegan2_family.methods` (once per process); a module
    that fails to import is remembered with its error and named when its method is asked for."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    importlib.import_module("stylegan2.training.stylegan2_method")  # the backbone's own method, always present
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _METHODS:
            continue
        try:
            entry.load()
        except ModuleNotFoundError as err:
            if not (entry.module == err.name or entry.module.startswith(f"{err.name}.")):  # it imports a missing one
                _UNLOADABLE[entry.name] = f"{type(err).__name__}: {err}"
        except Exception as err:  # a broken plug-in must not break the other methods
            _UNLOADABLE[entry.name] = f"{type(err).__name__}: {err}"


def list_methods():
    load_methods()
    return sorted(_METHODS, key=lambda name: (name != "stylegan2", name))


def get_method(name, snapshot=None):
    """The registered Method class `name`; otherwise a one-line UserError naming the method (and, for a snapshot's
    method, the snapshot file)."""
    load_methods()
    if name in _METHODS:
        return _METHODS[name]
    installed = ", ".join(list_methods())
    if name in _UNLOADABLE:
        why = f"its package does not import ({_UNLOADABLE[name]}); reinstall it"
    elif snapshot:
        why = f"its package is not installed; install the package that provides it (installed: {installed})"
    else:
        why = f"unknown method; choose one of {installed}"
    prefix = f"{snapshot}: a snapshot of --method {name}" if snapshot else f"--method {name}"
    raise UserError(f"{prefix}: {why}")


def method_classes():
    """Every registered Method class, stylegan2 first."""
    return [_METHODS[name] for name in list_methods()]


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
    (the whole step's when there is no gradient accumulation), and `loss_scale`: under --precision fp16 the phase's
    current loss scale (a float32 tensor), by which a phase scales the outputs it differentiates inside itself (R1,
    path length) and divides their gradients, as NVIDIA's loss.py does with apply/undo_loss_scaling; else None.
    A float16 step whose gradients are not finite is skipped after its phase ran: state a phase assigns (a running
    mean) must then keep its value when the new one is not finite."""

    def __init__(self, loop, seed, global_batch, round_index=0, rounds=1, loss_scale=None):
        self.loop = loop
        self.G = loop.G
        self.D = loop.D
        self.options = loop.options
        self.global_batch = global_batch
        self.draws = Draws(seed, global_batch, round_index, rounds)
        self.loss_scale = loss_scale

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
    """Base class of a GAN method; StyleGAN2's phases live in stylegan2.training.stylegan2_method.StyleGAN2Method."""

    name = None
    description = ""
    reals_grid = "reals.png"  # the run directory's image grids (NVIDIA's names)
    fakes_grid = "fakes{kimg}.png"  # {kimg}: the kimg tag, or "_init" before training

    # === Command line (class level: read before a run exists) ===

    flags = ()  # stylegan2.flags.Flag: this method's own options, under its heading in run_training.py --help
    infer_from_flags = False  # True: giving one of `flags` selects this method when --method is not given
    default_config = None  # preset when --config is not given (None: config-f)
    generation_flags = ()  # Flags of run_generator.py / run_metrics.py for this method's snapshots

    @classmethod
    def configure(cls, options, args):
        """Applies this method's defaults to the shared options the command line left unset (`args.<flag>` is None
        for those) and validates its own options (`options.method_options`, every flag's value), raising one-line
        UserErrors. `options` is the TrainingOptions about to be used; change it in place. `options.mirror_augment`
        is None when --mirror-augment was not given (set it for a default of the method's; None becomes false)."""

    @classmethod
    def sampling(cls, snapshot, options=None):
        """How to sample a snapshot of this method: a stylegan2.sampling.Sampling built from its metadata.
        `options` holds the values of `generation_flags` given on the command line."""
        return Sampling.from_metadata(snapshot.metadata, snapshot.G_ema, options)

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

    def load_weights(self, loop, path):
        """`--resume <snapshot file>`: copies its weights into loop.G, loop.D, loop.G_ema (same configuration
        required); returns its metadata. A method whose networks add to a plain snapshot's (e.g. new modules to
        fine-tune) overrides this to load tolerantly."""
        from stylegan2.training.snapshot import load_weights_into

        return load_weights_into(path, loop.G, loop.D, loop.G_ema)

    def sampling_metadata(self, loop):
        """JSON-able record of how generation draws labels (and latents) for this run's G (stylegan2.sampling);
        stored in every snapshot. Default: dataset label rows when conditional, none otherwise."""
        return {"labels": "dataset" if self.options.conditional else "none"}

    def snapshot_extras(self, loop):
        """{name: Keras layer or model} stored in every snapshot beside G, D and G_ema (e.g. an encoder, or
        stylegan2.training.snapshot.ArrayStore for arrays such as cluster centroids)."""
        return {}

    def grid_labels(self, loop, real_labels):
        """Labels of the fakes in the run directory's image grid, given the grid reals' dataset labels."""
        return real_labels if self.options.conditional else np.zeros([len(real_labels), 0], np.float32)

    def pipeline_options(self, loop):
        """Extra keyword arguments of the training stream's ImageDataset.pipeline: e.g. `indices` (train on a subset
        of the records) or `augment` (a per-image augmentation after the mirror flips). Default: none."""
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
