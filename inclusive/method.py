"""`--method inclusive`: Inclusive GAN (Yu et al., ECCV 2020; ningyu1991/InclusiveGAN) on the generic training loop.

StyleGAN2 (config-e, IG's `init_mul`) plus IMLE: every real image is paired with the nearest of a fixed pool of
candidate latents (rebuilt on IG's staleness schedule), and G also minimises the reconstruction distance of the
pairs and an interpolation term (IG:training/loss.py G_logistic_ns_rec_interp_arb_pathreg, reference §2.5):

    rec    = w * 0.5 * (d(G(z1), x1) + d(G(z2), x2))
    interp = 0.4 w * ((1 - t) d(G(z_t), x2) + t d(G(z_t), x1)),  z_t = slerp(z2, z1, t), t ~ U[0,1] per pair
    arb    = softplus(-D(G(z))),  z ~ N(0, I)
    G main loss per sample = rec + interp + arb    (lazy path length and D: StyleGAN2's)

d is LPIPS (IG), or with `--rec-loss l2|l1` the mean squared/absolute pixel difference in [-1,1] (no pretrained
weights needed). The global batch B is IG's D batch (2 x minibatch); the G terms use B / 2 pairs, B / 2 arbitrary
fakes and B / 4 path-length samples, as IG per GPU.

How it uses the seam:
  build_networks   preset networks with init_mul; checks --data-size against the dataset; loads LPIPS.
  phase_inputs     'G_main': B reals from a method-owned, unshuffled stream (restricted to the --attr-interesting
                   minority, or to the --dist-thres-percentile pairs), paired with their retrieved latents BY RECORD
                   INDEX, split into two shuffled halves and distributed per replica: (x1, z1, i1, x2, z2, i2).
                   D's phases keep the loop's normal stream over the full dataset.
  on_start/on_step the IMLE rebuild (candidates from the training G, exact kNN) when the staleness schedule says so.
  checkpoint_items retrieved latents and distances, the schedule state and the stream position (exact resume).
  on_tick/on_snapshot  rec-reals.png / rec-fakes-<kimg>.png (and arb-fakes-<kimg>.png every data_size // 1000 ticks).
"""

import os
import time

import numpy as np
import tensorflow as tf

from inclusive import knn, latents, minority, projection, schedule
from stylegan2 import losses
from stylegan2.errors import UserError
from stylegan2.flags import Flag, with_defaults
from stylegan2.images import save_grid
from stylegan2.presets import build_networks
from stylegan2.training.method import register_method
from stylegan2.training.stylegan2_method import StyleGAN2Method

REC_GRID_MAX = 32  # images in rec-reals.png (IG: the 2 x minibatch of one step)
REC_LOSSES = ("lpips", "l2", "l1")

# InclusiveGAN's flags (IG:run_training.py), with its defaults.
FLAGS = (
    Flag("data_size", int, 30000, "Number of images in the dataset (IMLE pairs every image with a latent)"),
    Flag("num_epochs", int, 10000, "Training length in epochs: total_kimg = data_size * num_epochs // 1000"),
    Flag("init_proj_dim", int, None, "Random projection dimension for the nearest-neighbour search (none = pixels, "
                                     "0 = Johnson-Lindenstrauss bound)"),
    Flag("init_staleness", int, 10, "Epochs between nearest-neighbour rebuilds (doubles after each rebuild)"),
    Flag("num_samples_factor", int, 10, "Candidate latents per real image"),
    Flag("knn_perturb_factor", float, 0.05, "Slerp fraction of the retrieved latent toward fresh noise"),
    Flag("candidate_batch_size", int, 256, "Candidates generated per chunk"),
    Flag("exclusive_retrieved_code", int, 0, "1 = each candidate latent is retrieved at most once"),
    Flag("NN_rec_lpips_weight", float, 2.5, "Weight of the reconstruction loss (interpolation: 0.4x)"),
    Flag("dist_thres_percentile", float, 100.0, "Keep pairs whose nearest-neighbour distance is within this "
                                                "percentile"),
    Flag("attr_interesting", str, None, "Comma-separated attributes; the IMLE terms use only images having all of "
                                        "them"),
    Flag("init_mul", float, 1.0, "Multiplier of G's weight-init std"),
    # Not in IG: LPIPS needs pretrained VGG16 weights; l2/l1 (mean over pixels in [-1,1]) need none.
    Flag("rec_loss", str, "lpips", "Distance of the reconstruction/interpolation terms: lpips (IG's), l2 or l1"),
    Flag("lpips_weights", str, None, "LPIPS weight file lpips_vgg16_v0.1.npz or its directory (default: "
                                     "$STYLEGAN2_WEIGHTS_DIR, then the cache)"),
)


def inclusive_options(method_options):
    """IG's flags with their run_training.py defaults, overridden by the given method options."""
    values = with_defaults(FLAGS, {})
    values.update({k: v for k, v in (method_options or {}).items() if v is not None})
    return values


def pixel_distance(kind):
    """Per-image distance of images in [-1,1]: mean squared ('l2') or absolute ('l1') difference over H, W, C."""
    if kind == "l2":
        return lambda a, b: tf.reduce_mean(tf.square(a - b), axis=[1, 2, 3])
    if kind == "l1":
        return lambda a, b: tf.reduce_mean(tf.abs(a - b), axis=[1, 2, 3])
    raise UserError(f"--rec-loss {kind}: choose one of lpips, l2, l1")


def lpips_distance(lpips):
    """IG: LPIPS(S(a), S(b)) with S(x) = (x + 1) * 127.5 (the VGG16-lin LPIPS takes [0,255])."""
    return lambda a, b: lpips((a + 1.0) * 127.5, (b + 1.0) * 127.5)


def load_lpips(path=None):
    """The LPIPS network, or a one-line UserError (resolve_weights') with the offline alternative."""
    from stylegan2.metrics.feature_nets import LPIPS

    try:
        return LPIPS(path)
    except UserError as err:
        raise UserError(f"{err}; or use a pixel distance instead: --rec-loss l2") from None


def make_distance(kind, lpips_weights=None):
    return lpips_distance(load_lpips(lpips_weights)) if kind == "lpips" else pixel_distance(kind)


def _merge(base, override):
    out = dict(base)
    for key, value in (override or {}).items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@register_method
class InclusiveMethod(StyleGAN2Method):
    name = "inclusive"
    description = "Inclusive GAN (Yu et al. 2020): StyleGAN2 + IMLE reconstruction, minority inclusion"
    reals_grid = "arb-reals.png"
    fakes_grid = "arb-fakes-{kimg}.png"
    rec_reals_grid = "rec-reals.png"
    rec_fakes_grid = "rec-fakes-{kimg}.png"
    flags = FLAGS
    infer_from_flags = True  # InclusiveGAN's README commands name no method
    default_config = "config-e"

    @classmethod
    def configure(cls, options, args):
        """InclusiveGAN's run_training.py defaults (reference §1.14, §2.1, §2.8), given flags taking precedence.

        The global batch is IG's D batch, 2 x minibatch_gpu x num_gpus (minibatch_gpu 6); the G terms use half of
        it. G_ema's half-life is doubled so that its beta equals IG's 0.5 ** (minibatch_size / 10000) with IG's
        minibatch_size = batch / 2. IG's configs (config-e*, config-f) use IG's minibatch-stddev group of 6 (NVIDIA's:
        4). Ticks are 1 kimg; network snapshots every 5 epochs; total_kimg = data_size x num_epochs / 1000.
        """
        m = options.method_options
        if args.batch_gpu is not None:
            raise UserError("--batch-gpu: --method inclusive trains without gradient accumulation (IG asserts one "
                            "round); set the per-GPU batch with --minibatch-gpu")
        if m["rec_loss"] not in REC_LOSSES:
            raise UserError(f"--rec-loss {m['rec_loss']}: choose one of {', '.join(REC_LOSSES)}")
        options.batch_gpu = None
        options.batch = args.batch or 2 * (args.minibatch_gpu or 6) * args.num_gpus
        if options.batch < 2 or options.batch % 2:
            raise UserError(f"--batch {options.batch}: --method inclusive needs an even global batch (IG's 2 x "
                            f"minibatch)")
        data_size = m["data_size"]
        if data_size < 1 or data_size % options.batch:
            raise UserError(f"--data-size {data_size}: must be a positive multiple of the global batch "
                            f"{options.batch} (2 x --minibatch-gpu x --num-gpus) for --method inclusive")
        options.hparams["ema_kimg"] = options.hparams["ema_kimg"] * 2
        if options.config.startswith("config-"):
            options.hparams["mbstd_group_size"] = 6
        if args.snapshot_ticks is None:
            options.snapshot_ticks = schedule.snapshot_ticks(data_size)[1]
        if args.total_kimg is None:
            options.total_kimg = schedule.total_kimg(data_size, m["num_epochs"])
        if args.kimg_per_tick is None:
            options.kimg_per_tick = 1.0

    def __init__(self, options):
        super().__init__(options)
        self.opts = inclusive_options(options.method_options)
        self.distance = None  # d(a, b) -> [N]; set by build_networks
        self._vars = None
        self.z_dim = None
        self.latents_np = self.dists_np = None
        self.schedule = None
        self.rec_position = 0
        self.rec_subset = None

    def describe(self):
        """A short form of IG's run description (reference §2.8)."""
        m = self.opts
        proj = "noProj" if m["init_proj_dim"] is None else f"{m['init_proj_dim']}Proj"
        desc = (f"-{proj}-stal{m['init_staleness']}-nsf{m['num_samples_factor']}-kpf{m['knn_perturb_factor']:g}"
                f"-rec{m['NN_rec_lpips_weight']:g}")
        if m["rec_loss"] != "lpips":
            desc += f"-{m['rec_loss']}"
        if m["attr_interesting"]:
            desc += "-" + "_and_".join(s.strip() for s in m["attr_interesting"].split(",") if s.strip())
        return desc

    # === Networks and state ===

    def build_networks(self, dataset):
        o, m = self.options, self.opts
        batch = o.batch or o.hparams["batch_size"]
        if batch % 2:
            raise UserError(f"--batch {batch}: --method inclusive needs an even global batch (IG's 2 x minibatch)")
        schedule.check_data_size(m["data_size"], batch // 2, dataset.num_images)
        self.minority = None
        if m["attr_interesting"]:
            self.minority = minority.minority_mask(dataset.labels, dataset.label_names, m["attr_interesting"])
            if not self.minority.any():
                raise UserError(f"--attr-interesting {m['attr_interesting']}: no image of {dataset.path} has all of "
                                f"these attributes")
        if self.distance is None:
            self.distance = make_distance(m["rec_loss"], m.get("lpips_weights"))
        init_mul = {"init_mul": float(m["init_mul"])}
        G_kwargs = _merge({"mapping_kwargs": init_mul, "synthesis_kwargs": init_mul},
                          o.network_overrides.get("G_kwargs"))
        group = o.hparams.get("mbstd_group_size")  # IG's 6 for its configs (set by the command line)
        D_kwargs = _merge({"mbstd_group_size": group} if group else {}, o.network_overrides.get("D_kwargs"))
        group = D_kwargs.get("mbstd_group_size") or 1
        local_half = batch // 2 // max(int(o.num_gpus), 1)
        if local_half and local_half % min(group, local_half):
            raise UserError(f"--batch {batch}: D scores {local_half} arbitrary fakes per replica (half the batch), not "
                            f"divisible by the minibatch-stddev group size {group}; change --minibatch-gpu")
        c_dim = dataset.label_dim if o.conditional else 0
        G, D = build_networks(o.config, dataset.resolution, dataset.channels, c_dim=c_dim, d_head=self.d_head,
                              G_kwargs=G_kwargs, D_kwargs=D_kwargs)
        self.z_dim = G.z_dim
        return G, D

    def _variables(self):
        """The IMLE state as plain (host, unmirrored) variables, created on first use."""
        if self._vars is None:
            n = int(self.opts["data_size"])
            self._vars = {
                "latents": tf.Variable(tf.zeros([n, self.z_dim]), trainable=False, name="imle_latents"),
                "dists": tf.Variable(tf.zeros([n]), trainable=False, name="imle_dists"),
                # staleness S and the number of rebuilds so far; rec images read from the IMLE stream
                "schedule": tf.Variable([int(self.opts["init_staleness"]), 0], dtype=tf.int64, trainable=False,
                                        name="imle_schedule"),
                "stream": tf.Variable(0, dtype=tf.int64, trainable=False, name="imle_stream"),
            }
        return self._vars

    def checkpoint_items(self):
        return dict(self._variables())

    # === The IMLE rebuild (reference §2.2-2.4) ===

    def on_start(self, loop):
        m, o = self.opts, self.options
        v = self._variables()
        self.schedule = schedule.StalenessSchedule(m["data_size"], m["init_staleness"])
        self.schedule.staleness, self.schedule.rebuilds = (int(x) for x in v["schedule"].numpy())
        self.latents_np = v["latents"].numpy()
        self.dists_np = v["dists"].numpy()
        self.rec_position = int(v["stream"].numpy())
        dataset = loop.dataset
        self.pool = latents.candidate_pool(m["data_size"], m["num_samples_factor"], self.z_dim, seed=o.seed)
        feature_dim = int(np.prod(dataset.shape))
        proj_dim = projection.proj_dim_for(m["init_proj_dim"], len(self.pool), feature_dim)
        self.projector = None
        if m["init_proj_dim"] is not None:
            matrix = projection.load_or_create_projector(feature_dim, proj_dim, seed=o.seed, cache_dir=loop.run_dir)
            self.projector = tf.constant(matrix, tf.float32)
        self._candidate_fn = self._make_candidate_fn(loop)
        if self.schedule.rebuilds == 0:  # a fresh run (or one started from a snapshot's weights): rebuild now
            self.schedule.update(loop.nimg, loop.batch)
            self.rebuild(loop)
        self.rec_subset = self._subset()
        self._open_stream(loop)
        self._setup_rec_grid(loop)

    def on_step(self, loop):
        # IG checks before each step whether cur_nimg crossed a rebuild point; after step k == before step k + 1.
        if self.schedule.update(loop.nimg, loop.batch):
            self.rebuild(loop)
            subset = self._subset()
            if not _same_subset(subset, self.rec_subset):
                self.rec_subset, self.rec_position = subset, 0
                self._open_stream(loop)
        self._variables()["stream"].assign(self.rec_position)

    def _make_candidate_fn(self, loop):
        """Candidate images from the TRAINING G as IG's rebuild (is_validation: no truncation, no style mixing,
        random noise, random dataset labels when conditional), turned into search features."""
        G, projector, dataset = loop.G, self.projector, loop.dataset
        conditional = self.options.conditional

        @tf.function(autograph=False, reduce_retracing=True)
        def candidate_features(z, seed):
            n = tf.shape(z)[0]
            if conditional:
                rows = tf.random.stateless_uniform([n], seed, 0, dataset.num_images, dtype=tf.int64)
                c = dataset.labels_of(rows)
            else:
                c = tf.zeros([n, 0])
            noise = [tf.random.stateless_normal([n, h, w, 1], tf.random.experimental.stateless_fold_in(seed, i + 1))
                     for i, (h, w) in enumerate(G.synthesis.noise_shapes)]
            images = G.synthesis(G.mapping(z, c), noise=noise)
            return projection.image_features(images, projector)

        return candidate_features

    def rebuild(self, loop):
        """Regenerates the candidate images and retrieves every real image's nearest candidate latent."""
        m, o = self.opts, self.options
        start = time.time()
        dataset = loop.dataset
        queries, order = [], []
        for images, _, indices in dataset.iterate_numpy(batch_size=256):
            queries.append(projection.image_features(images, self.projector).numpy())
            order.append(indices)
        queries = np.concatenate(queries)
        if not np.array_equal(np.concatenate(order), np.arange(len(queries))):
            raise UserError(f"{dataset.path}: records are not read in stored order; re-create the dataset")
        chunk = max(1, int(m["candidate_batch_size"]))
        rebuild_seed = [int(o.seed) & 0x7FFFFFFF, self.schedule.rebuilds]

        def chunks():
            for n, s in enumerate(range(0, len(self.pool), chunk)):
                seed = tf.constant([rebuild_seed[0], rebuild_seed[1] * 1_000_003 + n], tf.int64)
                yield self._candidate_fn(tf.constant(self.pool[s:s + chunk]), seed)

        exclusive_k = int(m["num_samples_factor"]) if m["exclusive_retrieved_code"] else 0
        indices, dists = knn.retrieve(queries, chunks, exclusive_k=exclusive_k)
        self.latents_np = self.pool[indices]
        self.dists_np = dists.astype(np.float32)
        v = self._variables()
        v["latents"].assign(self.latents_np)
        v["dists"].assign(self.dists_np)
        v["schedule"].assign([self.schedule.staleness, self.schedule.rebuilds])
        print(f"IMLE rebuild {self.schedule.rebuilds} at kimg {loop.nimg / 1000:.1f}: {len(self.pool)} candidates, "
              f"{len(queries)} reals, mean NN distance {float(np.mean(dists)):.4f}, "
              f"{len(np.unique(indices))} distinct latents, {time.time() - start:.1f}s", flush=True)

    def _subset(self):
        """Records the IMLE terms use: the minority (IG then skips the percentile filter), else the pairs within
        the distance percentile (None = every record)."""
        if self.minority is not None:
            return np.flatnonzero(self.minority)
        if float(self.opts["dist_thres_percentile"]) >= 100:
            return None
        keep, _ = knn.percentile_mask(self.dists_np, self.opts["dist_thres_percentile"])
        return np.flatnonzero(keep)

    def _open_stream(self, loop):
        """IG's `training_set_rec`: stored order (shuffle_mb=0), repeated, mirror-augmented like D's reals."""
        o = self.options
        self.rec_iter = iter(loop.dataset.pipeline(loop.batch, shuffle=False, mirror=o.mirror_augment, seed=o.seed,
                                                   start_image=self.rec_position, indices=self.rec_subset))

    # === Per-step inputs (reference §2.6) ===

    def phase_inputs(self, phase, loop):
        if phase != "G_main":
            return super().phase_inputs(phase, loop)
        with loop.dataset.read_errors():
            images, _, indices = next(self.rec_iter)
        self.rec_position += loop.batch
        images, indices = images.numpy(), indices.numpy()
        z = self.latents_np[indices]  # paired by record index
        self.last_rec_indices = indices
        half = loop.batch // 2
        rng = np.random.default_rng([int(self.options.seed) & 0xFFFFFFFF, loop.step])  # each half shuffled
        p1, p2 = rng.permutation(half), half + rng.permutation(half)
        return tuple(self._distribute(loop, a) for a in (images[p1], z[p1], indices[p1], images[p2], z[p2],
                                                         indices[p2]))

    @staticmethod
    def _distribute(loop, array):
        """A host array of the global batch -> per-replica contiguous slices (the slicing of ctx.draws)."""
        strategy = loop.strategy
        replicas = strategy.num_replicas_in_sync
        if replicas == 1:
            return tf.constant(array)
        per = len(array) // replicas

        def value_fn(ctx):
            r = ctx.replica_id_in_sync_group
            return tf.constant(array[r * per:(r + 1) * per])

        return strategy.experimental_distribute_values_from_function(value_fn)

    # === Phases ===

    def synthesize(self, ctx, z, c, global_batch):
        """G(z, c) in training mode as IG's loss calls it (is_training=True): w_avg update, style mixing with
        p = style_mixing_prob (one cutoff for the batch), random noise."""
        ws, noise = self.training_styles(ctx, z, c, global_batch)
        return ctx.G.synthesis(ws, noise=noise)

    def perturbation_noise(self, ctx, global_batch):
        """Fresh N(0, I) for IG's latent perturbation slerp(z, noise, knn_perturb_factor)."""
        return ctx.draws.normal([ctx.G.z_dim], global_batch)

    def interpolation_t(self, ctx, global_batch):
        """t ~ U[0,1] per pair, [b, 1] (IG loss.py L36)."""
        return ctx.draws.uniform([1], global_batch)

    def g_main(self, ctx, x1, z1, i1, x2, z2, i2):
        m = self.opts
        weight = float(m["NN_rec_lpips_weight"])
        factor = float(m["knn_perturb_factor"])
        half = ctx.global_batch // 2
        d = self.distance
        z1 = latents.perturb_tf(z1, self.perturbation_noise(ctx, half), factor)
        z2 = latents.perturb_tf(z2, self.perturbation_noise(ctx, half), factor)
        c1, c2 = ctx.loop.label_table(i1), ctx.loop.label_table(i2)
        rec = 0.5 * (d(self.synthesize(ctx, z1, c1, half), x1) + d(self.synthesize(ctx, z2, c2, half), x2)) * weight
        t = self.interpolation_t(ctx, half)
        y_t = self.synthesize(ctx, latents.slerp_tf(z2, z1, t), latents.interpolate_labels(c2, c1, t), half)
        interp = latents.interpolation_loss(d(y_t, x2), d(y_t, x1), t[:, 0], weight)
        fakes, c = self.generate(ctx, half)
        logits = self.discriminate(ctx.D, fakes, c)
        arb = losses.g_nonsaturating(logits)
        loss = rec + interp + arb
        return loss, {"Loss/G/loss": loss, "Loss/loss_NN_rec_lpips": rec, "Loss/loss_NN_interp_lpips": interp,
                      "Loss/loss_G_arb": arb, "Loss/scores/fake": tf.reshape(logits, [-1])}

    def g_reg(self, ctx):
        # IG: path length on minibatch_gpu // 2 samples per GPU, i.e. (B / replicas / 2) // pl_batch_shrink.
        shrink = ctx.options.hparams["pl_batch_shrink"]
        replicas = ctx.draws.num_replicas
        ctx.global_batch = max(1, ctx.global_batch // replicas // 2 // shrink) * replicas * shrink
        return super().g_reg(ctx)

    # === Image grids (reference §2.8) ===

    def _setup_rec_grid(self, loop):
        """A fixed set of rec reals (the first of the IMLE subset in stored order) and fixed perturbation noise."""
        num = min(loop.batch, REC_GRID_MAX)
        wanted = set(self.rec_subset.tolist()) if self.rec_subset is not None else None
        images, indices = [], []
        for batch_images, _, batch_indices in loop.dataset.iterate_numpy(batch_size=256):
            for img, idx in zip(batch_images, batch_indices):
                if wanted is None or int(idx) in wanted:
                    images.append(img)
                    indices.append(int(idx))
            if len(images) >= num:
                break
        self.rec_grid_indices = np.asarray(indices[:num], np.int64)
        rnd = np.random.RandomState(self.options.seed)
        self.rec_grid_noise = rnd.randn(len(self.rec_grid_indices), self.z_dim).astype(np.float32)
        self.rec_grid_layer_noise = [rnd.randn(len(self.rec_grid_indices), h, w, 1).astype(np.float32)
                                     for h, w in loop.G.synthesis.noise_shapes]
        if loop.is_chief:
            save_grid(np.stack(images[:num]), os.path.join(loop.run_dir, self.rec_reals_grid), cols=8)

    def save_rec_fakes(self, loop, kimg_tag):
        """G_ema on the perturbed retrieved latents of the rec grid's reals."""
        z = latents.slerp(self.latents_np[self.rec_grid_indices], self.rec_grid_noise,
                          float(self.opts["knn_perturb_factor"])).astype(np.float32)
        c = np.asarray(loop.label_table(tf.constant(self.rec_grid_indices)))
        images = loop.G_ema(z, c, noise=self.rec_grid_layer_noise)
        save_grid(np.asarray(images), os.path.join(loop.run_dir, self.rec_fakes_grid.format(kimg=kimg_tag)), cols=8)

    def on_tick(self, loop, stats):
        # IG: image grids every data_size // 1000 ticks, network snapshots every 5x that (the loop's snapshot_ticks).
        image_ticks = schedule.snapshot_ticks(self.opts["data_size"])[0]
        if loop.is_chief and loop.tick % image_ticks == 0 and loop.tick % self.options.snapshot_ticks:
            loop.save_fakes(self.fakes_grid.format(kimg=loop.kimg_tag()))
            self.save_rec_fakes(loop, loop.kimg_tag())

    def on_snapshot(self, loop, kimg):
        self.save_rec_fakes(loop, loop.kimg_tag())


def _same_subset(a, b):
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)
