"""Running metrics: generated and real images, feature networks, cached real statistics, result files.

A `MetricContext` holds what every metric needs (NV metrics/metric_base.py `MetricBase`): G (a snapshot's G_ema;
no truncation), how its labels are drawn (the snapshot's stylegan2.sampling.Sampling), the snapshot itself (for a
method's own metrics: D, extras, metadata), the dataset (real images, and label rows for conditional G), the strategy generation runs under,
the feature networks (loaded once), and a cache for real-image statistics keyed by the dataset's content.
`run_metrics` computes a list of metrics and appends each result to `metric-<name>.jsonl`.
"""

import datetime
import hashlib
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.metrics import weights as weight_files
from stylegan2.metrics.registry import get_metric
from stylegan2.sampling import Sampling

CLASSIFIER_FILE = "stacked_mnist_digits.keras"


def to_uint8_range(images):
    """[-1,1] -> [0,255] as NVIDIA's metrics feed networks (`tf.saturate_cast(x * 127.5 + 128, tf.uint8)`), float32."""
    return tf.cast(tf.saturate_cast(images * 127.5 + 128.0, tf.uint8), tf.float32)


class MetricContext:
    """Everything a metric function needs; see the module docstring.

    networks:     {name: callable} stand-ins or preloaded feature networks ('inception', 'keras-inception-v3',
                  'vgg16', 'lpips'); others are loaded with `load_feature_network(name, weights_dir)` on first use.
    inception:    the network of FID/KID/IS: 'inception' (the 2015 graph of published numbers) or
                  'keras-inception-v3' (labelled non-comparable in every result).
    classifier:   the Stacked-MNIST digit classifier (.keras path or model), for mode_counts / KL metrics.
    num_images:   if set, every metric uses at most this many images (quick looks; results are labelled).
    G = None evaluates the dataset itself in place of a generator (`run_metrics.py --network=reals`): its images,
    in order, are the "generated" ones (a sanity check: mode counts of the real data, FID(reals, reals) = 0).
    """

    def __init__(self, G, dataset, *, strategy=None, batch_size=64, mirror=False, cache_dir=None, weights_dir=None,
                 inception="inception", classifier=None, networks=None, num_images=None, seed=0, progress=True,
                 sampling=None, snapshot=None):
        self.G = G
        self.dataset = dataset
        self.sampling = sampling or (Sampling(G.c_dim) if G is not None else None)  # how fakes' labels are drawn
        self.snapshot = snapshot  # the NetworkSnapshot (D, extras, metadata) for a method's own metrics, or None
        self.strategy = strategy or tf.distribute.get_strategy()
        self.batch_size = batch_size
        self.mirror = mirror
        self.cache_dir = cache_dir if cache_dir is not None else os.path.join(weight_files.cache_dir(), "stats")
        self.weights_dir = weights_dir
        self.inception = inception
        self.classifier_source = classifier
        self.networks = dict(networks or {})
        self.num_images = num_images
        self.seed = seed
        self.progress = progress
        self._generate_fn = None
        self.memo = {}  # results shared by the metrics of one run_metrics call (one state of G)
        if G is not None and G.synthesis.img_resolution != dataset.resolution:
            raise UserError(f"{dataset.path}: {dataset.resolution}x{dataset.resolution} images, but the network "
                            f"generates {G.synthesis.img_resolution}x{G.synthesis.img_resolution}; use the dataset it was trained on")

    # === Networks ===

    def network(self, name):
        if name not in self.networks:
            from stylegan2.metrics.feature_nets import load_feature_network

            self.networks[name] = load_feature_network(name, self.weights_dir)
        return self.networks[name]

    def network_name(self, name):
        net = self.network(name)
        return getattr(net, "name", name), bool(getattr(net, "comparable", False))

    def classifier(self):
        """The digit classifier: --digit-classifier, else stacked_mnist_digits.keras in the weights or cache dir."""
        if "classifier" not in self.networks:
            from stylegan2.metrics.digit_classifier import load_classifier

            source = self.classifier_source
            if source is None:
                dirs = [d for d in (self.weights_dir, os.environ.get("STYLEGAN2_WEIGHTS_DIR"), weight_files.cache_dir())
                        if d]
                found = [os.path.join(d, CLASSIFIER_FILE) for d in dirs if os.path.isfile(os.path.join(d, CLASSIFIER_FILE))]
                if not found:
                    raise UserError(
                        f"the Stacked-MNIST digit classifier {CLASSIFIER_FILE} is not in {' or '.join(dirs)}; train it "
                        f"with: python -m stylegan2.metrics.digit_classifier --mnist-dir <MNIST idx dir> --output "
                        f"{os.path.join(weight_files.cache_dir(), CLASSIFIER_FILE)} (or pass --digit-classifier PATH)")
                source = found[0]
            self.networks["classifier"] = load_classifier(source) if isinstance(source, str) else source
        return self.networks["classifier"]

    # === Images ===

    def count(self, num):
        return min(num, self.num_images) if self.num_images else num

    def _generator(self):
        if self._generate_fn is None:
            G = self.G

            @tf.function(autograph=False)
            def replica_generate(z, c):
                return G(z, c, truncation_psi=1.0)

            @tf.function(autograph=False)
            def generate(z, c):
                replicas = self.strategy.num_replicas_in_sync
                per = tf.shape(z)[0] // replicas

                def part(ctx):
                    i = ctx.replica_id_in_sync_group
                    return z[i * per:(i + 1) * per], c[i * per:(i + 1) * per]

                zs, cs = (self.strategy.experimental_distribute_values_from_function(lambda ctx, k=k: part(ctx)[k])
                          for k in range(2))
                images = self.strategy.run(replica_generate, args=(zs, cs))
                return tf.concat(self.strategy.experimental_local_results(images), axis=0)

            self._generate_fn = generate if self.strategy.num_replicas_in_sync > 1 else replica_generate
        return self._generate_fn

    def generated(self, num, seed_offset=0, class_idx=None):
        """Batches of G(z, c) in [-1,1] (float32 NHWC tensors), z ~ N(0, I) and c as the snapshot's method draws them
        (stylegan2.sampling: e.g. the label rows of random records), or every c the one-hot of class `class_idx`
        (per-class metrics of a conditional G); `num` images in all, from a fixed seed (the same images for every
        snapshot). With G = None (the dataset itself), the reals, or the reals of class `class_idx`."""
        if class_idx is not None:
            c_dim = self.dataset.label_dim if self.G is None else self.G.c_dim
            if not 0 <= class_idx < c_dim:
                raise UserError(f"class {class_idx}: out of range; the {'dataset' if self.G is None else 'network'} "
                                f"has {c_dim} classes")
        if self.G is None:
            yield from (self.reals(min(num, self.dataset.num_images)) if class_idx is None
                        else self.reals_of_class(num, class_idx))
            return
        rnd = np.random.RandomState(self.seed + seed_offset)
        batch = self.batch_size - self.batch_size % self.strategy.num_replicas_in_sync or self.strategy.num_replicas_in_sync
        done = 0
        while done < num:
            z = rnd.randn(batch, self.G.z_dim).astype(np.float32)
            c = (self.sampling.labels_batch(batch, rnd, self.dataset) if class_idx is None
                 else self.sampling.one_hot([class_idx] * batch))
            images = self._generator()(tf.constant(self.sampling.latents(z), tf.float32), tf.constant(c))
            take = min(batch, num - done)
            done += take
            yield images[:take]

    def reals(self, num):
        """Batches of the first `num` records of the unshuffled dataset (NV), in [-1,1] (mirrored if `mirror`)."""
        done = 0
        for images, _labels, _indices in self.dataset.iterate_numpy(self.batch_size, mirror=self.mirror):
            take = min(len(images), num - done)
            done += take
            yield tf.constant(images[:take])
            if done >= num:
                return

    def reals_of_class(self, num, class_idx):
        """Batches of the first `num` records of class `class_idx` (one-hot labels), unshuffled, in [-1,1]."""
        self.dataset.class_numbers()  # a one-line error for labels that are not one class per image
        done = 0
        for images, labels, _indices in self.dataset.iterate_numpy(self.batch_size, mirror=self.mirror):
            images = images[np.argmax(labels, axis=1) == class_idx][:num - done]
            if len(images):
                done += len(images)
                yield tf.constant(images)
            if done >= num:
                return

    def features(self, batches, network, output=None):
        """Concatenated outputs of a feature network over image batches ([-1,1] in, [0,255] to the network)."""
        net = self.network(network)
        parts = []
        for images in batches:
            out = net(to_uint8_range(images))
            parts.append(np.asarray(out[output] if output else out, np.float32))
        return np.concatenate(parts).reshape(sum(len(p) for p in parts), -1)

    # === Real statistics, cached by content ===

    def dataset_key(self):
        """md5 of the dataset's dataset.json, file names and sizes: changes whenever the data does."""
        digest = hashlib.md5()
        for name in sorted(os.listdir(self.dataset.path)):
            path = os.path.join(self.dataset.path, name)
            if os.path.isfile(path) and not name.startswith("."):
                digest.update(f"{name}:{os.path.getsize(path)};".encode())
                if name == "dataset.json":
                    with open(path, "rb") as f:
                        digest.update(f.read())
        return digest.hexdigest()

    def cached(self, what, compute):
        """A dict of arrays for `what` (a string naming metric inputs), from the cache or computed and cached."""
        key = hashlib.md5(f"{self.dataset_key()}|{what}|mirror={self.mirror}".encode()).hexdigest()
        name = os.path.basename(os.path.normpath(self.dataset.path))
        path = os.path.join(self.cache_dir, f"{key}-{name}.npz")
        if os.path.isfile(path):
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        arrays = compute()
        os.makedirs(self.cache_dir, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return arrays


def append_result(run_dir, name, record):
    """Appends one JSON line to <run_dir>/metric-<name>.jsonl."""
    with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def run_metrics(ctx, names, *, run_dir=None, snapshot=None, kimg=None, log=print):
    """Computes each metric; appends results to run_dir/metric-<name>.jsonl; returns {result name: value}."""
    results = {}
    ctx.memo.clear()
    for name in names:
        fn, kwargs = get_metric(name)
        start = time.time()
        values, info = fn(ctx, **kwargs)
        seconds = time.time() - start
        results.update(values)
        record = {"metric": name, "results": values, "snapshot": snapshot, "kimg": kimg, "seconds": round(seconds, 2),
                  "time": datetime.datetime.now().isoformat(timespec="seconds"), **info}
        if ctx.num_images:
            record["num_images_limit"] = ctx.num_images
        if run_dir:
            append_result(run_dir, name, record)
        note = "" if info.get("comparable", True) else f"  [{info.get('feature_network')}: not comparable]"
        limit = f"  [at most {ctx.num_images} images]" if ctx.num_images else ""
        log(f"{os.path.basename(snapshot or '') or '-':<36s} time {seconds:7.1f}s  " +
            "  ".join(f"{k} {v:.4f}" for k, v in values.items()) + note + limit)
        sys.stdout.flush()
    return results
