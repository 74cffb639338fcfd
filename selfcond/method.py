"""`--method selfcond`: the Self-Conditioned GAN (Liu et al., CVPR 2020; stevliu/self-conditioned-gan) on StyleGAN2.

The discriminator's features of a fixed set of real images are clustered (k-means++ on the untrained D at the
start, then warm-started k-means matched to the old clusters every `--recluster-every` iterations); every real image
is labelled with its nearest centroid, and G and D are conditioned on that label (reference sections 1.1-1.7):

    y = mapping[nearest centroid of F_frozen(x)]       for the real batch x, as D sees it (after mirror flips and,
                                                       unless --deterministic-augment, U[0,1/128) noise)
    D loss  = softplus(-D(x, y)) + softplus(D(G(z, y), y))     D(., y) = the logit of y's head ("mask")
    G loss  = softplus(-D(G(z', y), y))                         the same y (labels of this iteration's reals)
    R1      = gamma / 2 ||dD(x, y)/dx||^2                       on the real image's own cluster head

G takes y through its mapping network's label embedding (ADA's: embed(one-hot y), normalised, concatenated to the
normalised z: the original's L2-normalised embedding concatenated to z); D through a one-logit-per-cluster head
(the Discriminator's 'multi_logit', gathered by y), or `--d-conditioning projection` (ADA's 'cmap' projection).

How it uses the seam:
  configure        --selfcond-config files (selfcond.config_files), the per-dataset preset (selfcond.presets), the
                   augmentation policy (--deterministic-augment), validation.
  build_networks   G with c_dim = k and a dense label embedding, D with the mask head, the frozen copy of D.
  on_start         the cluster set (built once, saved as cluster-set.npz in the run directory), and the first
                   clustering on the untrained D, or the clusterer restored from the checkpoint.
  phase_inputs     labels are computed on the host: 'G_main' takes this iteration's real batch from the loop's stream
                   and labels it (the clusterer sees the global batch, so labels do not depend on the replica
                   count); G_main gets the global label vector (each replica takes the rows its latents were drawn
                   for: fake j has latent z_j and label y_j however the batch is split), D_main the same reals with
                   their labels per replica and the same vector for its fakes; D_reg labels its own real batch.
  on_step          the re-clustering schedule (the original's `it % recluster_every == 0 and it > burnin_time`).
  checkpoint_items the clusterer's state (centroids, mapping, labels of the cluster set, random generator) and the
                   frozen D: resume is exact.
  snapshots        the frozen D and the clusters (ArrayStore), and sampling metadata {"labels": "empirical",
                   "probs": p(c)}: run_generator.py and run_metrics.py draw labels as the original's sampler does
                   (`--cluster i`: one cluster).
"""

import io
import os
import time

import numpy as np
import tensorflow as tf

from selfcond import cluster_metrics  # noqa: F401  (registers the cluster metrics)
from selfcond.clustering import CLUSTERERS, KMeansClusterer, make_clusterer
from selfcond.config_files import load_selfcond_config
from selfcond.features import (TRAINING_STREAM, DequantizedImages, DiscriminatorFeatures, cluster_set,
                               dequantization_noise)
from selfcond.presets import DATASET_PRESETS, get_preset, infer_preset
from stylegan2 import losses
from stylegan2.errors import UserError
from stylegan2.flags import Flag, str2bool, with_defaults
from stylegan2.metrics import arithmetic
from stylegan2.presets import build_networks
from stylegan2.sampling import Sampling
from stylegan2.training.method import register_method
from stylegan2.training.snapshot import ArrayStore
from stylegan2.training.stylegan2_method import StyleGAN2Method

D_CONDITIONING = {"mask": "multi_logit", "projection": "cmap"}  # the original's name -> the Discriminator's head
FEATURE_BATCH = 256  # images per feature call (features are per image, so this only trades memory for calls)

FLAGS = (
    Flag("selfcond_config", str, None, "A JSON file of these flags (keys without dashes, e.g. {\"k\": 100}), with "
         "inherit_from (another such file, relative to this one): the original's YAML configs; flags given here win "
         "(shipped: selfcond/configs/<dataset>/{selfcondgan,unconditional,conditional}.json)", metavar="FILE"),
    Flag("clusterer", str, "selfcondgan", "Labels: selfcondgan (k-means of D's features, the method), online "
         "(sequential k-means), random_labels (fresh uniform labels per batch), supervised (the dataset's classes: "
         "the class-conditional upper bound), unconditional (k = 1)", choices=CLUSTERERS),
    Flag("k", int, 100, "Number of clusters (G's and D's labels); when not given, the --dataset-preset's"),
    Flag("recluster_every", int, 25000, "Training iterations between re-clusterings; when not given, the "
         "--dataset-preset's"),
    Flag("burnin", int, 0, "Re-cluster only after this many iterations (the original's burnin_time)"),
    Flag("cluster_images", int, 25000, "Real images in the fixed cluster set (at most the dataset's); when not "
         "given, the --dataset-preset's"),
    Flag("dataset_preset", str, None, "The original's per-dataset k, --cluster-images, --recluster-every (and R1 at "
         "128 px); not given: the preset named in the dataset's name, else stacked_mnist",
         choices=tuple(DATASET_PRESETS)),
    Flag("initialization", str2bool, True, "Warm-start each re-clustering from the old clusters (false: k-means++ "
         "from scratch; the paper's ablation)", metavar="BOOL"),
    Flag("matching", str2bool, True, "Match new clusters to old ones (Hungarian) so labels stay stable (false: the "
         "ablation)", metavar="BOOL"),
    Flag("deterministic_augment", str2bool, None, "The original's data.deterministic: false = its augmentation, "
         "mirror flips (unless --mirror-augment is given) and U[0, 1/128) dequantisation noise on the reals D sees, "
         "on the batches labelled and on the cluster set; true = neither; when not given, the --dataset-preset's "
         "(true for stacked_mnist, false otherwise)", metavar="BOOL"),
    Flag("embed_dim", int, None, "Width of G's label embedding (the original's embed_size, 256; L2-normalised and "
         "concatenated to z); when not given, the --config's w_dim"),
    Flag("d_conditioning", str, "mask", "D's label head: mask (one logit per cluster, the original's) or projection "
         "(StyleGAN2-ADA's projection of mapped labels)", choices=tuple(D_CONDITIONING)),
)

GENERATION_FLAGS = (
    Flag("cluster", int, None, "Generate from this cluster only (default: clusters drawn from the run's empirical "
         "cluster distribution)"),
)


def selfcond_options(method_options):
    """Every flag's value: the run's options over the flags' defaults."""
    return {**with_defaults(FLAGS, {}), **(method_options or {})}


class ClusterSampling(Sampling):
    """The snapshot's label distribution (empirical p(c) of the cluster set, or uniform), or `--cluster i`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cluster = self.options.get("cluster")
        if cluster is not None and not 0 <= cluster < self.c_dim:
            raise UserError(f"--cluster {cluster}: out of range; this network has {self.c_dim} clusters "
                            f"(0..{self.c_dim - 1})")
        self.cluster = cluster

    def labels_for_keys(self, class_idx, keys):
        if self.cluster is None:
            return super().labels_for_keys(class_idx, keys)
        if class_idx is not None:
            raise UserError(f"--class {class_idx} and --cluster {self.cluster}: give one of them")
        return self.one_hot([self.cluster] * len(keys))

    def labels_batch(self, n, rnd, dataset=None):
        if self.cluster is None:
            return super().labels_batch(n, rnd, dataset)
        return self.one_hot([self.cluster] * n)


def _merge(base, override):
    out = dict(base)
    for key, value in (override or {}).items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _state_bytes(state):
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    return buffer.getvalue()


def _state_from_bytes(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def _distribute(strategy, parts):
    """Host arrays, one per replica (in replica order) -> a per-replica value."""
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group]))


def _host_parts(strategy, value):
    """A per-replica value -> its parts as NumPy arrays, in replica order."""
    return [np.asarray(t) for t in strategy.experimental_local_results(value)]


@register_method
class SelfCondMethod(StyleGAN2Method):
    name = "selfcond"
    description = "Self-Conditioned GAN (Liu et al. 2020): G and D conditioned on clusters of D's features"
    flags = FLAGS
    generation_flags = GENERATION_FLAGS

    @classmethod
    def configure(cls, options, args):
        m = options.method_options
        if options.conditional:
            raise UserError("--cond=true: --method selfcond conditions G and D on clusters of D's features; for the "
                            "dataset's classes use --clusterer supervised")
        if m["selfcond_config"]:
            for name, value in load_selfcond_config(m["selfcond_config"], FLAGS).items():
                if getattr(args, name, None) is None:  # the command line wins over the file
                    m[name] = value
                    setattr(args, name, value)  # from here on, as if given on the command line
        dataset_name = os.path.basename(os.path.normpath(options.dataset)) if options.dataset else ""
        m["dataset_preset"] = m["dataset_preset"] or infer_preset(dataset_name)
        preset = get_preset(m["dataset_preset"])
        for key in ("k", "cluster_images", "recluster_every"):
            if getattr(args, key, None) is None:
                m[key] = preset[key]
        if m["deterministic_augment"] is None:
            m["deterministic_augment"] = preset["deterministic"]
        if options.mirror_augment is None:
            options.mirror_augment = not m["deterministic_augment"]
        elif options.mirror_augment and args.deterministic_augment:
            raise UserError("--deterministic-augment=true and --mirror-augment=true: deterministic means no flips and "
                            "no noise; give one of them")
        clusterer = m["clusterer"]
        if clusterer == "unconditional":
            if args.k is not None and args.k != 1:
                raise UserError(f"--k {args.k}: the unconditional clusterer has one cluster; drop --k")
            m["k"] = 1
        if clusterer == "supervised":
            if args.k is not None:
                raise UserError(f"--k {args.k}: the supervised clusterer has one label per class of the dataset; "
                                f"drop --k")
            m["k"] = None  # the dataset's number of classes
        for flag, value, least in (("--k", m["k"], 1), ("--recluster-every", m["recluster_every"], 1),
                                   ("--burnin", m["burnin"], 0), ("--cluster-images", m["cluster_images"], 1),
                                   ("--embed-dim", m["embed_dim"], 1)):
            if value is not None and value < least:
                raise UserError(f"{flag} {value}: must be at least {least}")
        if clusterer in ("selfcondgan", "online") and m["cluster_images"] < m["k"]:
            raise UserError(f"--cluster-images {m['cluster_images']}: k-means needs at least --k {m['k']} images")
        if preset["r1_reg"] is not None and clusterer == "selfcondgan" and args.gamma is None:
            options.hparams["r1_gamma"] = 2.0 * preset["r1_reg"]  # the original's R1 has no 1/2 factor

    @classmethod
    def sampling(cls, snapshot, options=None):
        return ClusterSampling.from_metadata(snapshot.metadata, snapshot.G_ema, options)

    def __init__(self, options):
        super().__init__(options)
        self.opts = selfcond_options(options.method_options)
        # Dequantisation noise only when asked (a run directory from before the flag has None: no noise, as it ran).
        self.dequantize = self.opts["deterministic_augment"] is False
        self.k = None
        self.clusterer = None
        self._state = None
        self._dirty = False
        self._pending = None  # this iteration's labelled real batch, from G_main's inputs to D_main's
        self._last_reals = None  # the real batch of the last D_main (the online clusterer's updates)
        self.last_cluster_stats = {}

    def describe(self):
        name = self.opts["clusterer"]
        return f"-{name}" + (f"-k{self.opts['k']}" if name in ("selfcondgan", "online", "random_labels") else "")

    # === Networks and state ===

    def build_networks(self, dataset):
        o, m = self.options, self.opts
        if m["clusterer"] == "supervised":
            if not dataset.is_onehot:
                raise UserError(f"--clusterer supervised: {dataset.path} has no class labels (one-hot); create it "
                                f"with labels, or use another clusterer")
            self.k = dataset.label_dim
        else:
            self.k = int(m["k"])
        mapping = {"label_embed": "dense"}
        if m["embed_dim"] is not None:  # not given: the backbone's default (w_dim); networks stay as they were
            mapping["embed_features"] = int(m["embed_dim"])
        G_kwargs = _merge({"mapping_kwargs": mapping}, o.network_overrides.get("G_kwargs"))
        G, D = build_networks(o.config, dataset.resolution, dataset.channels, c_dim=self.k,
                              d_head=D_CONDITIONING[m["d_conditioning"]], G_kwargs=G_kwargs,
                              D_kwargs=o.network_overrides.get("D_kwargs"))
        # The original's deep copy of D, frozen between re-clusterings (its weights are copied at each one).
        self.cluster_D = D.__class__.from_config({**D.get_config(), "name": "cluster_discriminator"})
        self.cluster_D.build()
        self.probs = tf.Variable(tf.fill([self.k], 1.0 / self.k), trainable=False, name="cluster_probs")
        return G, D

    def _state_variable(self):
        """The clusterer's NumPy state (selfcond.clustering state_dict) as npz bytes: a host variable."""
        if self._state is None:
            self._state = tf.Variable(b"", dtype=tf.string, trainable=False, name="clusterer_state")
        return self._state

    def checkpoint_items(self):
        return {"clusterer_state": self._state_variable(),
                "cluster_D": {w.path.replace("/", "."): w.value for w in self.cluster_D.weights}}

    def _sync_state(self):
        if self._dirty:
            self._state_variable().assign(_state_bytes(self.clusterer.state_dict()))
            self.probs.assign(self.label_distribution().astype(np.float32))
            self._dirty = False

    @property
    def uses_kmeans(self):
        return isinstance(self.clusterer, KMeansClusterer)

    def label_distribution(self):
        """p(c) of generation: the cluster set's label histogram (k-means clusterers), else uniform."""
        return np.asarray(self.clusterer.label_distribution(), np.float64)

    # === Clustering ===

    def on_start(self, loop):
        if isinstance(loop.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise UserError("--method selfcond: labels are computed on one machine; train on its GPUs with "
                            "--num-gpus (TF_CONFIG multi-worker training is not supported)")
        o, m = self.options, self.opts
        dataset = loop.dataset
        self.classes = dataset.class_numbers() if dataset.is_onehot else None
        self.features = DiscriminatorFeatures(loop.D, self.cluster_D)
        x_cluster = None
        if m["clusterer"] in ("selfcondgan", "online"):
            if m["cluster_images"] > dataset.num_images:
                print(f"--cluster-images {m['cluster_images']}: the dataset has {dataset.num_images} images; the "
                      f"cluster set is all of them")
            x_cluster, self.cluster_indices = cluster_set(loop.run_dir, dataset, m["cluster_images"], o.seed,
                                                          o.mirror_augment)
            if self.dequantize:
                x_cluster = DequantizedImages(x_cluster, o.seed)
        self.clusterer = make_clusterer(m["clusterer"], self.k, x_cluster=x_cluster, features=self.features,
                                        seed=o.seed, batch_size=FEATURE_BATCH, initialization=m["initialization"],
                                        matching=m["matching"])
        state = self._state_variable().numpy()
        if state:
            self.clusterer.load_state_dict(_state_from_bytes(state))
            self._dirty = True
            self._sync_state()
            if self.uses_kmeans:
                self._cluster_stats(None)
                print(f"Clusterer {self.clusterer.name} restored from the checkpoint: {self._describe_clusters()}")
        else:
            # The original's first clustering, on the randomly initialised D (train.py: `if no checkpoint`).
            self.recluster(loop, first=True)

    def recluster(self, loop, x_batch=None, first=False):
        if self.clusterer.name in ("supervised", "random_labels", "unconditional"):
            self._dirty = True
            self._sync_state()
            return
        old = None if self.clusterer.x_labels is None else self.clusterer.x_labels.copy()
        sequential = getattr(self.clusterer, "burned_in", False)  # online: MacQueen updates on one batch
        start, feature_start = time.time(), self.features.seconds
        self.clusterer.recluster(x_batch)
        seconds = time.time() - start
        feature_seconds = self.features.seconds - feature_start
        self._dirty = True
        self._sync_state()
        if sequential:
            return  # the cluster set's labels do not change: nothing to report
        self._cluster_stats(old)
        what = "Clustered" if first else "Re-clustered"
        print(f"{what} {len(self.clusterer.x_labels)} images at iteration {loop.step} (kimg {loop.nimg / 1000:.1f}) "
              f"in {seconds:.1f}s (features {feature_seconds:.1f}s, k-means and matching "
              f"{seconds - feature_seconds:.1f}s): {self._describe_clusters()}", flush=True)

    def _cluster_stats(self, old_labels):
        """Statistics of the cluster set's labels (shown at each re-clustering and in every tick's line)."""
        labels = self.clusterer.x_labels
        if labels is None:
            return
        counts = np.bincount(labels, minlength=self.k)
        stats = {"Clusters/nonempty": float(np.count_nonzero(counts)), "Clusters/largest": float(counts.max())}
        if old_labels is not None:
            stats["Clusters/changed"] = float(np.mean(labels != old_labels))
        if self.classes is not None:
            truth = self.classes[self.cluster_indices]
            scores = arithmetic.cluster_metrics(truth, labels)
            stats["Clusters/nmi"], stats["Clusters/purity"] = scores["nmi"], scores["purity"]
        self.last_cluster_stats = stats

    def _describe_clusters(self):
        s = self.last_cluster_stats
        text = f"{int(s['Clusters/nonempty'])}/{self.k} clusters non-empty, largest {int(s['Clusters/largest'])}"
        if "Clusters/changed" in s:
            text += f", {100 * s['Clusters/changed']:.1f}% of labels changed"
        if "Clusters/nmi" in s:
            text += f", NMI {s['Clusters/nmi']:.3f} and purity {s['Clusters/purity']:.3f} against the dataset's classes"
        return text

    def on_step(self, loop):
        it = loop.step - 1  # the original's `it` of the iteration just trained
        every, burnin = int(self.opts["recluster_every"]), int(self.opts["burnin"])
        if it % every == 0 and it > burnin:
            self.recluster(loop, x_batch=self._last_reals)
        self._sync_state()

    def on_tick(self, loop, stats):
        stats.update({k: v for k, v in self.last_cluster_stats.items() if k != "Clusters/changed"})

    # === Labels of real batches (host) ===

    def _labelled(self, loop):
        """The loop's next real batch and its cluster labels: (images, per-replica labels, indices, global labels)."""
        position = loop.reals_consumed  # the stream position of this batch's first image (restored on resume)
        images, labels, indices = loop.next_reals()
        strategy = loop.strategy
        parts = _host_parts(strategy, images)
        index_parts = _host_parts(strategy, indices)
        host_images = np.concatenate(parts)
        bounds = np.cumsum([0] + [len(p) for p in parts])
        if self.dequantize:
            # The original adds the noise in its data loader: D's reals, R1 and the labels all see the noisy batch.
            host_images = host_images + dequantization_noise(host_images.shape, self.options.seed, TRAINING_STREAM,
                                                             position)
            images = _distribute(strategy, [host_images[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
        host_indices = np.concatenate(index_parts)
        truth = self.classes[host_indices] if self.classes is not None else None
        y = self.clusterer.get_labels(host_images, truth).astype(np.int32)
        if self.clusterer.name == "random_labels":
            self._dirty = True  # its generator moved
        y_parts = [y[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return images, _distribute(strategy, y_parts), indices, tf.constant(y), host_images

    def phase_inputs(self, phase, loop):
        if phase == "G_main":
            self._pending = self._labelled(loop)
            return (self._pending[3],)
        if phase == "D_main":
            images, y_local, indices, y_global, host_images = self._pending
            self._pending = None
            self._last_reals = host_images  # the online clusterer's x_batch
            return images, y_local, indices, y_global
        if phase == "D_reg":
            return self._labelled(loop)[:3]
        return ()

    # === Phases ===

    def _one_hot(self, y):
        return tf.one_hot(y, self.k, dtype=tf.float32)

    @staticmethod
    def _local_rows(ctx, rows):
        """This replica's rows of one round of a global-batch array (the rows ctx.draws draws for it)."""
        b = ctx.local_batch
        return rows[ctx.draws.replica * b:(ctx.draws.replica + 1) * b]

    def discriminate(self, D, images, labels):
        """The logit of each image's own cluster [N,1]: the mask head's output gathered by the one-hot labels."""
        out = D(images, labels)
        if D.head == "multi_logit":
            return tf.reduce_sum(out * labels, axis=1, keepdims=True)
        return out

    def draw_clusters(self, ctx, global_batch):
        """Cluster indices ~ p(c) (inverse CDF of ctx.draws' uniforms): labels of the path-length batch."""
        u = ctx.draws.uniform([], global_batch)
        index = tf.searchsorted(tf.cumsum(self.probs), u, side="right")
        return tf.minimum(index, self.k - 1)

    def sample_ws(self, ctx, global_batch=None):
        global_batch = global_batch or ctx.global_batch
        c = self._one_hot(self.draw_clusters(ctx, global_batch))
        ws, noise = self.training_styles(ctx, ctx.draws.normal([ctx.G.z_dim], global_batch), c, global_batch)
        return ws, c, noise

    def fakes(self, ctx, y_rows):
        """G(z, y) in training mode for this replica's rows of the global label vector, and the labels (one-hot)."""
        c = self._one_hot(self._local_rows(ctx, y_rows))
        ws, noise = self.training_styles(ctx, ctx.draws.normal([ctx.G.z_dim]), c, ctx.global_batch)
        return ctx.G.synthesis(ws, noise=noise), c

    def g_main(self, ctx, y_rows):
        images, c = self.fakes(ctx, y_rows)
        logits = self.discriminate(ctx.D, images, c)
        loss = losses.g_nonsaturating(logits)
        return loss, {"Loss/G/loss": loss, "Loss/scores/fake": tf.reshape(logits, [-1])}

    def d_main(self, ctx, reals, real_y, indices, y_rows):
        fakes, c = self.fakes(ctx, y_rows)
        fake_logits = self.discriminate(ctx.D, tf.stop_gradient(fakes), c)
        real_logits = self.discriminate(ctx.D, reals, self._one_hot(real_y))
        loss = losses.d_logistic(real_logits, fake_logits)
        return loss, {"Loss/D/loss": loss,
                      "Loss/scores/real": tf.reshape(real_logits, [-1]),
                      "Loss/signs/real": tf.sign(tf.reshape(real_logits, [-1])),
                      "Loss/signs/fake": tf.sign(tf.reshape(fake_logits, [-1]))}

    def d_reg(self, ctx, reals, real_y, indices):
        gamma = ctx.options.hparams["r1_gamma"]
        if gamma <= 0:
            return None
        penalty, _ = losses.r1_penalty(lambda x, c: self.discriminate(ctx.D, x, c), reals, self._one_hot(real_y))
        loss = penalty * (gamma * 0.5)
        return loss, {"Loss/r1_penalty": penalty, "Loss/D/reg": loss}

    # === Snapshots and image grids ===

    def sampling_metadata(self, loop):
        if self.uses_kmeans:
            return {"labels": "empirical", "probs": self.label_distribution().tolist(),
                    "clusterer": self.clusterer.name}
        return {"labels": "uniform", "clusterer": self.clusterer.name}

    def snapshot_extras(self, loop):
        arrays = {"probs": self.label_distribution()}
        if self.uses_kmeans:
            c = self.clusterer
            arrays.update(centroids=np.asarray(c.centroids, np.float64), mapping=c.mapping.astype(np.int64),
                          x_labels=c.x_labels.astype(np.int64), cluster_indices=self.cluster_indices,
                          live_features=np.array(int(getattr(c, "burned_in", False)), np.int64))
        return {"cluster_D": self.cluster_D, "clusters": ArrayStore(arrays, name="clusters")}

    def grid_labels(self, loop, real_labels):
        """One cluster per row of the fakes grid (row r: cluster r mod k), as the original's per-label grids."""
        rows = np.arange(len(real_labels)) // loop.grid_cols
        return np.eye(self.k, dtype=np.float32)[rows % self.k]
