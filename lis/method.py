"""`--method lis`: LIS modules (Jung 2017, arXiv 1707.00768; aleju/gan-error-avoidance) on the generic training loop.

G-LIS (`--lis-mode g_lis`, default): N = `--r-iterations` residual modules x + FC(act(FC(x))) on z (or w, `--lis-space`)
inside G's mapping (lis.networks). Every G call of training draws one depth for its whole batch (stochastic depth,
p_i = (1/2)^(N-i), lis.depth); both style-mixing latents go through that depth. The G loss adds the similarity
term sum_{i<=depth} lambda_r^i MSE(z'_i, z) (lis.losses); D sees fakes of random depth and is StyleGAN2's.

R-iterative (`--lis-mode r_iterative`): a plain G, an encoder R (lis.networks.Encoder, part of G so the loop's G
optimizer trains it and G_ema averages it) and D, trained on chains z_0 -> x_0 = G(z_0) -> z_1 = R(x_0) -> x_1 = G(z_1)
-> ... z_N -> x_N. Per iteration, one gate draw per step (lis.depth) picks the trained steps k0..N. G main:
sum over trained steps of the adversarial loss of x_k (G trained also on R's codes, z_k fixed) and, for k >= 1,
lambda_r^k MSE(z_k, z_0) for R, with (1 - lambda_r^k) of the adversarial gradient reaching R through z_k. D main: the
same gate on a chain of its own, sum over trained steps of the logistic loss of the reals and of x_k.

Where this differs from the original (whose updates are sequential: G, then R through the updated G, then D on a
fresh real batch, up to N + 1 times per iteration): here each phase sums the trained steps' terms into one optimizer
step (the loop's one G step and one D step per iteration, with StyleGAN2's Adam, lazy R1 and path length), and D's
real term is the one real batch of the iteration counted once per trained step.

How it uses the seam: `build_networks` (LISGenerator), phases `g_main`/`d_main` (and `training_styles` for the
path-length phase), `load_weights` (fine-tuning a plain StyleGAN2 snapshot with new modules: the original's
--load_tolerant), `sampling_metadata` + `sampling` + `generation_flags` (`--depth`, `--r-encoder`: lis.sampling),
`on_snapshot` (per-depth grids and chains), metrics (lis.metrics); the original's training outputs: the
reconstruction test on the running-test images of a `--split-file` (lis.split_data) every `--test-interval`
iterations with a `best` snapshot (`on_step`, lis.reconstruction; best loss and iteration in `checkpoint_items`),
training on the split's `train` images with an `--augment` preset (`pipeline_options`, lis.augment), and the loss
history per depth with its plot (`on_tick`, `on_snapshot`, lis.history).
"""

import json
import os

import numpy as np
import tensorflow as tf

from stylegan2 import losses
from stylegan2.errors import UserError
from stylegan2.flags import Flag, str2bool
from stylegan2.images import save_grid
from stylegan2.networks import mix_styles
from stylegan2.presets import build_networks, get_preset
from stylegan2.training.method import register_method
from stylegan2.training.stylegan2_method import StyleGAN2Method

import lis.metrics  # noqa: F401  (registers the LIS metrics)
from lis import depth as lis_depth
from lis import history as lis_history
from lis import reconstruction
from lis.augment import PRESETS, make_augment
from lis.layers import NORMS
from lis.losses import mse_per_sample, scale_gradient, similarity_terms, where_mask
from lis.networks import SPACES, LISGenerator
from lis.sampling import LISSampling, at_depth
from lis.split_data import load_split

MODES = ("g_lis", "r_iterative")
CHAIN_GRID_LATENTS = 16  # latents in the chains grid (4 chains per row)

FLAGS = (
    Flag("lis_mode", str, "g_lis", "g_lis: LIS modules in G; r_iterative: G -> R -> G chains with an encoder R "
                                   "trained jointly", choices=MODES),
    Flag("r_iterations", int, 3, "N: LIS modules (g_lis) or R -> G iterations (r_iterative) (the original's "
                                 "--r_iterations)"),
    Flag("lis_space", str, "z", "Latent the modules act on: z (before the mapping network, the original's place) or "
                                "w (after it)", choices=SPACES),
    Flag("lis_norm", str, "weight", "Module layers: weight (weight-normalised dense, TPReLU), weight-affine "
                                    "(with scale and bias, PReLU), none (dense, PReLU)", choices=NORMS),
    Flag("lambda_r", float, 0.9, "Similarity weight base: module i's MSE(z'_i, z) counts lambda_r^i (0 = off); "
                                 "r_iterative: lambda_r^k MSE(z_k, z_0) + (1 - lambda_r^k) adversarial for R"),
    Flag("always_train_all", str2bool, False, "Train with every module (g_lis) or every chain step (r_iterative): "
                                              "no stochastic depth or gate", metavar="BOOL"),
    Flag("lis_lr_mul", float, 0.01, "Learning-rate multiplier of the LIS modules' parameters (their Adam steps are "
                                    "lr x this; 0.01 = StyleGAN2's mapping network)"),
    Flag("spatial_dropout_r", float, 0.0, "r_iterative: spatial dropout of R (the original's --spatial_dropout_r)"),
    Flag("split_file", str, None, "A split file of python -m lis.split_data: train on its `train` images only and run "
                                  "the reconstruction test on its running-test images", metavar="PATH"),
    Flag("test_interval", int, 10000, "Iterations between reconstruction tests (needs --split-file); the best test "
                                      "loss keeps network-snapshot-best.keras"),
    Flag("test_steps", int, 50, "RMSprop steps per reconstruction test code"),
    Flag("test_lr", float, reconstruction.TEST_LR, "RMSprop learning rate of the reconstruction test"),
    Flag("augment", str, None, "The original's augmentation preset of the training images (every preset, none "
                               "included, turns on --mirror-augment)", choices=tuple(PRESETS)),
)
TEST_DIR = "running_test"
BEST_SNAPSHOT = "network-snapshot-best.keras"
TEST_GRID_IMAGES, TEST_GRID_COLS = 100, 10  # the original's vis_row x vis_col test images in the grids

GENERATION_FLAGS = (
    Flag("depth", int, None, "LIS depth r: the first r modules (g_lis) or r trips G -> R -> G (r_iterative); "
                             "default: the snapshot's, all N"),
    Flag("r_encoder", str, None, "An R-separate encoder (.keras from python -m lis.train_r): sample the repaired "
                                 "G(R(G(z))) instead of G(z)", metavar="PATH"),
)


def lis_options(method_options):
    """The LIS flags with their defaults, overridden by the given method options."""
    values = {f.name: f.default for f in FLAGS}
    values.update({k: v for k, v in (method_options or {}).items() if v is not None})
    return values


@register_method
class LISMethod(StyleGAN2Method):
    name = "lis"
    description = "LIS modules (Jung 2017): learned input-space modules in G, R-iterative"
    flags = FLAGS
    generation_flags = GENERATION_FLAGS

    @classmethod
    def configure(cls, options, args):
        m = options.method_options
        n = m["r_iterations"]
        if m["lis_mode"] == "g_lis" and n < 0:
            raise UserError(f"--r-iterations {n}: the number of LIS modules must be 0 or more")
        if m["lis_mode"] == "r_iterative":
            if n < 1:
                raise UserError(f"--r-iterations {n}: R-iterative needs at least one R -> G iteration")
            given = [f"--{k.replace('_', '-')}" for k in ("lis_space", "lis_norm", "lis_lr_mul")
                     if getattr(args, k, None) is not None]
            if given:
                raise UserError(f"{', '.join(given)}: options of --lis-mode g_lis (R-iterative has no LIS modules)")
        elif getattr(args, "spatial_dropout_r", None) is not None:
            raise UserError("--spatial-dropout-r: an option of --lis-mode r_iterative (R-separate takes it in "
                            "python -m lis.train_r)")
        if not m["lambda_r"] >= 0:
            raise UserError(f"--lambda-r {m['lambda_r']}: must be 0 or more")
        if not m["lis_lr_mul"] > 0:
            raise UserError(f"--lis-lr-mul {m['lis_lr_mul']}: must be positive")
        if not 0 <= m["spatial_dropout_r"] < 1:
            raise UserError(f"--spatial-dropout-r {m['spatial_dropout_r']}: must be in [0, 1)")
        for name in ("test_interval", "test_steps"):
            if m[name] < 1:
                raise UserError(f"--{name.replace('_', '-')} {m[name]}: must be 1 or more")
        if not m["test_lr"] > 0:
            raise UserError(f"--test-lr {m['test_lr']}: must be positive")
        if m["split_file"] is not None:
            load_split(m["split_file"])  # exists and parses; its sizes are checked against the dataset at the start
        if m["augment"] is not None:
            options.mirror_augment = True  # every preset flips (the original's RandomHorizontalFlip)

    @classmethod
    def sampling(cls, snapshot, options=None):
        return LISSampling.from_metadata(snapshot.metadata, snapshot.G_ema, options)

    def __init__(self, options):
        super().__init__(options)
        self.opts = lis_options(options.method_options)
        self.mode = self.opts["lis_mode"]
        self.N = int(self.opts["r_iterations"])
        self.lambda_r = float(self.opts["lambda_r"])
        self.split = None
        # 1e100: the original's min_loss before any test (finite: the loop checks every checkpointed value)
        self.best_loss = tf.Variable(1e100, dtype=tf.float64, trainable=False, name="lis_best_test_loss")
        self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="lis_best_test_step")

    def describe(self):
        if self.mode == "r_iterative":
            return f"-riter{self.N}"
        return f"-lis{self.N}{self.opts['lis_space']}"

    # === Networks and state ===

    def build_networks(self, dataset):
        o, m = self.options, self.opts
        c_dim = dataset.label_dim if o.conditional else 0
        overrides = dict(o.network_overrides)
        G_kwargs = dict(overrides.pop("G_kwargs", None) or {})
        mapping = dict(G_kwargs.get("mapping_kwargs") or {})
        mapping.update(lis_modules=self.N if self.mode == "g_lis" else 0, lis_space=m["lis_space"],
                       lis_norm=m["lis_norm"], lis_lr_multiplier=float(m["lis_lr_mul"]))
        G_kwargs["mapping_kwargs"] = mapping
        if self.mode == "r_iterative":
            # The original's R: D's trunk with half of D's features (build_reverser(..., nfeature // 2, ...)).
            D_preset = get_preset(o.config)["D_kwargs"]
            D_preset.update(overrides.get("D_kwargs") or {})
            G_kwargs["reverser_kwargs"] = dict(fmap_base=D_preset["fmap_base"] // 2,
                                               fmap_max=max(D_preset["fmap_max"] // 2, 1),
                                               spatial_dropout=float(m["spatial_dropout_r"]))
        return build_networks(o.config, dataset.resolution, dataset.channels, c_dim=c_dim, d_head=self.d_head,
                              G_kwargs=G_kwargs, generator_class=LISGenerator, **overrides)

    def load_weights(self, loop, path):
        """Fine-tuning (the original's --load_tolerant): a snapshot's weights go where this run's networks have the
        same weight; weights it lacks must be new LIS modules (or R), which keep their initial values, the same in G
        and G_ema. A plain StyleGAN2 snapshot of the same config and dataset gets its LIS modules added this way."""
        from stylegan2.training.snapshot import load_snapshot

        snap = load_snapshot(path)
        added = {}
        for name in ("G", "D", "G_ema"):
            added[name] = copy_matching_weights(getattr(loop, name), getattr(snap, name), path)
        for ema, src in zip(added["G_ema"], added["G"]):
            ema.assign(src)
        if added["G"]:
            print(f"Fine-tuning: {len(added['G'])} weights of this run are not in {os.path.basename(path)} and start "
                  f"at their initial values ({', '.join(sorted({_module_of(w) for w in added['G']}))})")
        return snap.metadata

    def checkpoint_items(self):
        return {"best_test_loss": self.best_loss, "best_test_step": self.best_step}

    def pipeline_options(self, loop):
        """The split's `train` images only (with --split-file) and the --augment preset's ops."""
        extra = {}
        if self.opts["split_file"] is not None:
            self.split = load_split(self.opts["split_file"], loop.dataset.num_images)
            extra["indices"] = self.split["train"]
        if self.opts["augment"] is not None:
            extra["augment"] = make_augment(self.opts["augment"])
        return extra

    def sampling_metadata(self, loop):
        record = super().sampling_metadata(loop)
        if self.mode == "g_lis":
            lis = {"mode": "g_lis", "modules": self.N, "space": self.opts["lis_space"], "depth": self.N}
        else:
            lis = {"mode": "r_iterative", "iterations": self.N, "depth": self.N}
        return {**record, "lis": lis}

    # === G-LIS: stochastic depth and the similarity loss ===

    def draw_depth(self, ctx):
        """One depth for this G call (all its samples and replicas): lis.depth's stochastic depth."""
        n = ctx.G.mapping.lis_modules
        if n == 0 or self.opts["always_train_all"]:
            return tf.constant(n, tf.int32)
        return lis_depth.depth_from_uniforms([ctx.draws.scalar() for _ in range(n)], n)

    def lis_styles(self, ctx, z, c, global_batch):
        """(ws, noise, (depth, base, codes)) of a training-mode G call: StyleGAN2's (w_avg update, style mixing with
        p = style_mixing_prob at one cutoff, fresh noise) with the LIS modules run to one random depth, the second
        style-mixing latent through the same depth."""
        G = ctx.G
        prob = ctx.options.hparams["style_mixing_prob"]
        depth = self.draw_depth(ctx)
        ws, base, codes = G.mapping.map_with_codes(z, c, depth)
        G.update_w_avg(ws)
        if prob > 0:
            ws2 = G.mapping(ctx.draws.normal([G.z_dim], global_batch), c, depth=depth)
            mixing = ctx.draws.scalar() < prob
            layer = ctx.draws.scalar(1, G.num_ws, dtype=tf.int32)
            ws = mix_styles(ws, ws2, tf.where(mixing, layer, G.num_ws))
        noise = [ctx.draws.normal([h, w, 1], global_batch) for h, w in G.synthesis.noise_shapes]
        return ws, noise, (depth, base, codes)

    def training_styles(self, ctx, z, c, global_batch):
        return self.lis_styles(ctx, z, c, global_batch)[:2]

    def similarity(self, G, base, codes, depth):
        """(total [b], per-module terms) of lis.losses.similarity_terms against the chain's input. On w, the codes
        are recomputed from the input with its gradient stopped, so that (as on z) the term moves only the LIS
        modules, not the mapping network that makes w."""
        base = tf.stop_gradient(base)
        if G.mapping.lis_space == "w":
            codes = G.mapping.lis_codes(base, G.mapping.lis_modules)[1]
        return similarity_terms(base, codes, depth, self.lambda_r)

    def _depth_stats(self, name, values, depth, n):
        return {f"{name}{k}": where_mask(values, tf.equal(depth, k)) for k in range(n + 1)}

    def g_main(self, ctx):
        if self.mode == "r_iterative":
            return self.r_iterative_g_main(ctx)
        # Gmain: maximise D's logits of fakes at a random LIS depth; keep each executed module's code near z.
        G = ctx.G
        c = ctx.random_labels()
        z = ctx.draws.normal([G.z_dim])
        ws, noise, (depth, base, codes) = self.lis_styles(ctx, z, c, ctx.global_batch)
        logits = self.discriminate(ctx.D, G.synthesis(ws, noise=noise), c)
        adv = losses.g_nonsaturating(logits)
        stats = {"Loss/scores/fake": tf.reshape(logits, [-1]), "Loss/G/adv": adv,
                 "LIS/depth": tf.cast(tf.fill(tf.shape(adv), depth), tf.float32)}
        loss = adv
        if codes and self.lambda_r > 0:
            sim, terms = self.similarity(G, base, codes, depth)
            loss = adv + sim
            stats["Loss/lis/similarity"] = sim
            stats.update({f"Loss/lis/r{i}": where_mask(t, tf.less(i, depth)) for i, t in enumerate(terms)})
        stats["Loss/G/loss"] = loss
        stats.update(self._depth_stats("Loss/G/depth", adv, depth, len(codes)))
        return loss, stats

    def d_main(self, ctx, reals, labels, indices):
        if self.mode == "r_iterative":
            return self.r_iterative_d_main(ctx, reals, labels)
        # Dmain: StyleGAN2's logistic loss; the fakes come from one random LIS depth.
        G = ctx.G
        c = ctx.random_labels()
        z = ctx.draws.normal([G.z_dim])
        ws, noise, (depth, _, codes) = self.lis_styles(ctx, z, c, ctx.global_batch)
        fakes = G.synthesis(ws, noise=noise)
        fake_logits = self.discriminate(ctx.D, tf.stop_gradient(fakes), c)
        real_logits = self.discriminate(ctx.D, reals, ctx.loop.condition(labels))
        loss = losses.d_logistic(real_logits, fake_logits)
        stats = {"Loss/D/loss": loss, "Loss/D/real": tf.nn.softplus(-tf.reshape(real_logits, [-1])),
                 "Loss/scores/real": tf.reshape(real_logits, [-1]),
                 "Loss/signs/real": tf.sign(tf.reshape(real_logits, [-1])),
                 "Loss/signs/fake": tf.sign(tf.reshape(fake_logits, [-1]))}
        stats.update(self._depth_stats("Loss/D/fake_depth", tf.nn.softplus(tf.reshape(fake_logits, [-1])), depth,
                                       len(codes)))
        return loss, stats

    # === R-iterative ===

    def trained_steps(self, ctx):
        """float [N + 1]: 1 for the chain steps trained this phase (lis.depth's gate, one draw per step)."""
        if self.opts["always_train_all"]:
            return tf.ones([self.N + 1])
        return lis_depth.trained_steps_from_uniforms([ctx.draws.scalar() for _ in range(self.N + 1)])

    def chain(self, ctx, global_batch):
        """(c, z_0, [(z_k or None, x_k) for k = 0..N]): x_0 = G(z_0), z_k = R(x_{k-1} with its gradient stopped),
        x_k = G(z_k) in training mode; z_k reaches G with (1 - lambda_r^k) of its gradient (R's adversarial share)."""
        G = ctx.G
        R = G.reverser
        c = ctx.random_labels(global_batch)
        z0 = ctx.draws.normal([G.z_dim], global_batch)
        steps, images = [], None
        for k in range(self.N + 1):
            z_k, z_in = None, z0
            if k > 0:
                dropout = None
                if R.spatial_dropout > 0:
                    dropout = [ctx.draws.uniform([1, 1, ch], global_batch) for ch in R.dropout_channels]
                z_k = R(tf.stop_gradient(images), dropout_noise=dropout)
                z_in = scale_gradient(z_k, 1.0 - self.lambda_r ** k)
            ws, noise = self.training_styles(ctx, z_in, c, global_batch)
            images = G.synthesis(ws, noise=noise)
            steps.append((z_k, images))
        return c, z0, steps

    def r_iterative_g_main(self, ctx):
        trained = self.trained_steps(ctx)
        c, z0, steps = self.chain(ctx, ctx.global_batch)
        loss = 0.0
        stats = {}
        for k, (z_k, images) in enumerate(steps):
            logits = tf.reshape(self.discriminate(ctx.D, images, c), [-1])
            adv = tf.nn.softplus(-logits)  # -log(sigmoid(logits))
            step_loss = adv
            if z_k is not None:
                mse = mse_per_sample(z_k, z0)
                step_loss = adv + self.lambda_r ** k * mse
                stats[f"Loss/R/mse{k}"] = where_mask(mse, trained[k] > 0)
            stats[f"Loss/G/step{k}"] = where_mask(adv, trained[k] > 0)
            loss = loss + trained[k] * step_loss
        stats["Loss/G/loss"] = loss
        stats["LIS/trained_steps"] = tf.fill(tf.shape(loss), tf.reduce_sum(trained))
        return loss, stats

    def r_iterative_d_main(self, ctx, reals, labels):
        trained = self.trained_steps(ctx)
        c, _, steps = self.chain(ctx, ctx.global_batch)
        real_logits = tf.reshape(self.discriminate(ctx.D, reals, ctx.loop.condition(labels)), [-1])
        real_term = tf.nn.softplus(-real_logits)
        loss = 0.0
        stats = {"Loss/scores/real": real_logits, "Loss/D/real": real_term}
        for k, (_, images) in enumerate(steps):
            fake_logits = tf.reshape(self.discriminate(ctx.D, tf.stop_gradient(images), c), [-1])
            fake_term = tf.nn.softplus(fake_logits)
            stats[f"Loss/D/fake_step{k}"] = where_mask(fake_term, trained[k] > 0)
            loss = loss + trained[k] * (real_term + fake_term)
        stats["Loss/D/loss"] = loss
        return loss, stats

    # === Image grids ===

    def on_start(self, loop):
        if not loop.is_chief:
            return
        if loop.step == 0:
            self.save_depth_grids(loop, "_init")
        # A resumed run repeats the iterations after its checkpoint: drop what they logged.
        lis_history.truncate_after(os.path.join(loop.run_dir, lis_history.HISTORY_FILE), loop.step)
        if self.split is None:
            return
        os.makedirs(os.path.join(loop.run_dir, TEST_DIR), exist_ok=True)
        lis_history.truncate_after(os.path.join(loop.run_dir, TEST_DIR, "losses.jsonl"), loop.step)
        self.test_images, self.test_labels = read_images(loop.dataset, self.split["running_test"])
        if not self.options.conditional:
            self.test_labels = None
        if len(self.test_images):
            save_grid(self.test_images[:TEST_GRID_IMAGES], os.path.join(loop.run_dir, TEST_DIR, "target.png"),
                      cols=TEST_GRID_COLS)
        print(f"Reconstruction test: {len(self.test_images)} running-test images every "
              f"{self.opts['test_interval']} iterations; training on {len(self.split['train'])} of "
              f"{loop.dataset.num_images} images")

    def on_step(self, loop):
        if self.split is not None and loop.is_chief and len(self.split["running_test"]) and \
                loop.step % self.opts["test_interval"] == 0:
            self.running_test(loop)

    def running_test(self, loop):
        """The reconstruction test on G_ema; a better mean loss than before writes network-snapshot-best.keras."""
        record = self.sampling_metadata(loop)["lis"]
        render = reconstruction.make_render(loop.G_ema, record, self.test_labels)
        codes, losses = reconstruction.reconstruct(render, self.test_images, loop.G_ema.z_dim,
                                                   self.opts["test_steps"], self.opts["test_lr"])
        loss = float(np.mean(losses))
        best = loss < float(self.best_loss.numpy())
        if best:
            loop.save_snapshot(os.path.join(loop.run_dir, BEST_SNAPSHOT))
            self.best_loss.assign(loss)
            self.best_step.assign(loop.step)
            write_json(os.path.join(loop.run_dir, TEST_DIR, "best.json"),
                       {"step": loop.step, "kimg": loop.nimg / 1000, "loss": loss})
        self.last_test_loss = loss
        lis_history.append_row(os.path.join(loop.run_dir, TEST_DIR, "losses.jsonl"),
                               {"step": loop.step, "kimg": loop.nimg / 1000, "test_loss": loss, "best": best})
        num = min(len(codes), TEST_GRID_IMAGES)
        labels = None if self.test_labels is None else self.test_labels[:num]
        save_test_grids(reconstruction.images_by_depth(loop.G_ema, record, codes[:num], labels),
                        os.path.join(loop.run_dir, TEST_DIR), loop.step)
        print(f"Reconstruction test at iteration {loop.step}: loss {loss:.6f}"
              + (" (new best)" if best else f" (best {float(self.best_loss.numpy()):.6f} at iteration "
                                            f"{int(self.best_step.numpy())})"), flush=True)

    def on_tick(self, loop, stats):
        if getattr(self, "last_test_loss", None) is not None:
            stats["LIS/test_loss"] = self.last_test_loss
            self.last_test_loss = None
        if loop.is_chief:
            n = self.N if self.mode == "r_iterative" else loop.G.mapping.lis_modules
            row = {"step": loop.step, "kimg": loop.nimg / 1000, **lis_history.lines_of_stats(stats, self.mode, n)}
            lis_history.append_row(os.path.join(loop.run_dir, lis_history.HISTORY_FILE), row)

    def on_snapshot(self, loop, kimg):
        self.save_depth_grids(loop, loop.kimg_tag())
        rows = lis_history.read_rows(os.path.join(loop.run_dir, lis_history.HISTORY_FILE))
        lis_history.plot(rows, os.path.join(loop.run_dir, lis_history.PLOT_FILE))

    def save_depth_grids(self, loop, tag):
        """fakes<tag>-r<r>.png for r = 0..N (the loop's own fakes<tag>.png is G_ema's default: depth N for G-LIS, the
        plain G for R-iterative) and chains<tag>.png: the first 16 grid latents at depths 0..N side by side, 4 chains
        per row (the original's samples, samples_r*, samples_all)."""
        record = self.sampling_metadata(loop)["lis"]
        z, c, noise = loop.grid_z, loop.grid_labels, loop.grid_noise
        by_depth = [generate_batches(at_depth(loop.G_ema, record, r), z, c, noise) for r in range(self.N + 1)]
        for r in range(self.N + 1):
            save_grid(by_depth[r], os.path.join(loop.run_dir, f"fakes{tag}-r{r}.png"), cols=loop.grid_cols)
        save_grid(chain_cells(by_depth, CHAIN_GRID_LATENTS), os.path.join(loop.run_dir, f"chains{tag}.png"),
                  cols=4 * (self.N + 1))


def read_images(dataset, indices):
    """(images float32 [n,H,W,C] in [-1,1], labels [n, label_dim]) of records `indices`, in that order."""
    indices = np.asarray(indices, np.int64)
    if not len(indices):
        return np.zeros([0, *dataset.shape], np.float32), np.zeros([0, dataset.label_dim], np.float32)
    found = {}
    for images, labels, idx in dataset.iterate_numpy(indices=indices):
        for image, label, i in zip(images, labels, idx):
            found[int(i)] = (image, label)
    return (np.stack([found[int(i)][0] for i in indices]).astype(np.float32),
            np.stack([found[int(i)][1] for i in indices]).astype(np.float32))


def save_test_grids(by_depth, folder, step):
    """The original's running_test grids: test_<it>.png (depth 0), r<j>_test_<it>.png (depth j + 1: its off-by-one
    naming) and all_test_<it>.png (each code at depths 0..N side by side)."""
    cols = TEST_GRID_COLS
    save_grid(by_depth[0], os.path.join(folder, f"test_{step}.png"), cols=cols)
    for r in range(1, len(by_depth)):
        save_grid(by_depth[r], os.path.join(folder, f"r{r - 1}_test_{step}.png"), cols=cols)
    save_grid(chain_cells(by_depth, len(by_depth[0])), os.path.join(folder, f"all_test_{step}.png"),
              cols=cols * len(by_depth))


def write_json(path, record):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def generate_batches(G, z, c, noise, batch=64, truncation_psi=1.0):
    """G(z, c) with the given per-layer noise, in batches, as float32 NumPy in [-1,1]."""
    images = []
    for start in range(0, len(z), batch):
        sl = slice(start, start + batch)
        images.append(np.asarray(G(z[sl], None if c is None else c[sl], truncation_psi=truncation_psi,
                                   noise=None if noise is None else [n[sl] for n in noise])))
    return np.concatenate(images)


def chain_cells(by_depth, num):
    """Cells of a chains grid: for each of the first `num` latents, its images at depth 0..N in a row."""
    num = min(num, len(by_depth[0]))
    return np.stack([by_depth[r][i] for i in range(num) for r in range(len(by_depth))])


def _module_of(weight):
    """'generator/mapping/lis0/fc1/weight' -> 'mapping/lis0'."""
    parts = weight.path.split("/")
    return "/".join(parts[1:3])


def copy_matching_weights(dst, src, path):
    """Copies src's weights into dst's weights of the same path (below the model's own name); returns dst's weights
    that src lacks, which must be LIS modules or R. Anything else is a configuration mismatch (one UserError)."""
    def key(w):
        return w.path.split("/", 1)[-1]

    source = {key(w): w for w in src.weights}
    added, used = [], set()
    for w in dst.weights:
        k = key(w)
        if k not in source:
            if "/lis" not in f"/{k}" and not k.startswith("reverser/"):
                raise UserError(f"{path}: has no weight {k} for this run's {dst.name}; fine-tune from a snapshot of "
                                f"the same --config and dataset")
            added.append(w)
            continue
        if tuple(w.shape) != tuple(source[k].shape):
            raise UserError(f"{path}: weight {k} has shape {tuple(source[k].shape)}, this run needs "
                            f"{tuple(w.shape)}; fine-tune from a snapshot of the same --config and dataset")
        w.assign(source[k])
        used.add(k)
    unused = sorted(set(source) - used)
    if unused:
        raise UserError(f"{path}: {len(unused)} weight(s) have no place in this run's {dst.name} (e.g. {unused[0]}); "
                        f"fine-tune from a snapshot of the same --config and dataset")
    return added
