"""The one tf.data input pipeline, for training and metrics, over a dataset written by dataset_tool.py.

    dataset = ImageDataset("datasets/stacked_mnist_240k")
    for images, labels, indices in dataset.pipeline(batch_size=32, mirror=True, seed=0):
        ...   # images float32 [B,H,W,C] in [-1,1]; labels float32 [B, label_dim]; indices int64 [B] record numbers

Order: records are read from one .tfrecords file, numbered by their position (the record index travels with each
image, so a method can pair an image with per-image state, e.g. IMLE's retrieved latent). With `shuffle`, epoch `e`
is shuffled by a buffer seeded with (seed, e), so the order is a pure function of (seed, position): a run that
resumes at image `start_image` sees exactly what an uninterrupted run would have seen. Mirror flips are a hash of
(seed, epoch, record index), so they do not depend on batch size, sharding or the number of replicas either.
Without `shuffle` records come in stored order (NVIDIA's `shuffle_mb=0`, which InclusiveGAN uses).
"""

import contextlib
import re

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.tfrecords import load_labels, read_dataset_info

_MAX_INT32 = 2**31 - 1  # TF's random_seed._MAXINT32: seeds are taken modulo it
_MASK32 = 0xFFFFFFFF


def _hash32(x):
    """A 32-bit integer mix (xor-shift-multiply, 'lowbias'-style) on int64 tensors holding values < 2^32."""
    x = tf.bitwise.bitwise_and(x, _MASK32)
    for _ in range(2):
        x = tf.bitwise.bitwise_xor(tf.bitwise.right_shift(x, 16), x)
        x = tf.bitwise.bitwise_and(x * 0x45D9F3B, _MASK32)  # < 2^59: no int64 overflow
    return tf.bitwise.bitwise_xor(tf.bitwise.right_shift(x, 16), x)


class ImageDataset:
    """A dataset directory opened for reading: metadata, label rows, and the tf.data pipeline."""

    def __init__(self, path, resolution=None):
        self.info = read_dataset_info(path)
        self.path = self.info.path
        self.resolution = resolution or self.info.resolution
        self.file = self.info.file_for(self.resolution)
        self.labels = load_labels(self.info)  # float32 [N, label_dim]
        # One-hot rows (Stacked MNIST has 1000 columns) are kept as class numbers and expanded in the pipeline.
        is_onehot = (self.label_dim > 1 and np.all((self.labels == 0) | (self.labels == 1))
                     and np.all(self.labels.sum(axis=1) == 1))
        self._classes = np.argmax(self.labels, axis=1).astype(np.int32) if is_onehot else None

    # === Metadata ===

    @property
    def num_images(self):
        return self.info.num_images

    @property
    def channels(self):
        return self.info.channels

    @property
    def shape(self):
        """[H, W, C] of the images the pipeline yields."""
        return [self.resolution, self.resolution, self.channels]

    @property
    def label_dim(self):
        return self.labels.shape[1]

    @property
    def label_names(self):
        return self.info.label_names

    @property
    def is_onehot(self):
        return self._classes is not None

    def class_numbers(self):
        """int32 [N] class of every record for one-hot labelled datasets (Stacked MNIST: d0 + 10 d1 + 100 d2)."""
        if self._classes is None:
            raise UserError(f"{self.path}: labels are not one class per image (one-hot); this needs a class-labelled dataset")
        return self._classes

    def attribute_columns(self, names):
        """Column numbers of named label columns (e.g. CelebA attributes); UserError naming what exists otherwise."""
        known = self.label_names or []
        missing = [n for n in names if n not in known]
        if missing:
            have = ", ".join(known) if known else "none (the dataset has no named labels; see dataset.json)"
            raise UserError(f"{self.path}: unknown attribute(s) {', '.join(missing)}; this dataset has: {have}")
        return [known.index(n) for n in names]

    # === Labels ===

    def labels_of(self, indices):
        """Label rows [len(indices), label_dim] of records (a tf op, usable inside the pipeline and tf.function)."""
        if self._classes is not None:
            return tf.one_hot(tf.gather(tf.constant(self._classes), indices), self.label_dim, dtype=tf.float32)
        return tf.gather(tf.constant(self.labels), indices)

    def sample_labels(self, num, generator):
        """Label rows of `num` uniformly drawn records (for conditional G), float32 [num, label_dim].

        `generator` is a tf.random.Generator (inside tf.function or under a strategy) or a np.random.RandomState.
        """
        if isinstance(generator, np.random.RandomState):
            return self.labels[generator.randint(self.num_images, size=num)]
        rows = generator.uniform([num], 0, self.num_images, dtype=tf.int64)
        return self.labels_of(rows)

    # === Pipeline ===

    def pipeline(self, batch_size, *, shuffle=True, shuffle_mb=4096, repeat=True, mirror=False, seed=0,
                 start_image=0, num_shards=1, shard_index=0, drop_remainder=True, prefetch=True, indices=None,
                 augment=None):
        """tf.data.Dataset of (images [B,H,W,C] float32 in [-1,1], labels [B,label_dim] float32, indices [B] int64).

        Args:
          batch_size:     images per batch from this pipeline (per replica or per worker when sharded).
          shuffle:        shuffle each epoch with a buffer of `shuffle_mb` MB of records, seeded by (seed, epoch).
          repeat:         loop over the data forever (else one pass, from `start_image`).
          mirror:         random horizontal flips, a hash of (seed, epoch, record index).
          start_image:    images of this shard already consumed (resume); the stream continues exactly there.
          num_shards, shard_index: keep records with index % num_shards == shard_index (one shard per worker).
          indices:        None (every record), or the record indices to read (a subset, e.g. IMLE's minority records);
                          positions, epochs and `start_image` then count records of the subset only.
          augment:        None, or a function (images [B,H,W,C] float32 in [-1,1], keys int64 [B]) -> images, applied
                          after the mirror flips; `keys` is a hash of (seed, epoch, record index), independent of the
                          mirror's, so the augmentation too is a pure function of (seed, position).
        """
        if batch_size < 1:
            raise UserError(f"batch size must be positive, got {batch_size}")
        height = width = self.resolution
        channels = self.channels
        record_bytes = height * width * channels
        keep = None
        if indices is not None:
            keep = np.zeros(self.num_images, bool)
            keep[np.asarray(indices, np.int64).reshape(-1)] = True
            shard_size = int(np.sum(keep[shard_index::num_shards]))
            if shard_size == 0:
                raise UserError(f"{self.path}: no records selected for shard {shard_index} of {num_shards} "
                                f"({len(np.asarray(indices).reshape(-1))} indices given)")
        shard_size = len(range(shard_index, self.num_images, num_shards)) if keep is None else shard_size
        if shard_size == 0:
            raise UserError(f"{self.path}: shard {shard_index} of {num_shards} is empty ({self.num_images} images)")
        buffer = int(min(shard_size, max(1, shuffle_mb * (1 << 20) // record_bytes)))
        seed = int(seed) & _MASK32

        records = tf.data.TFRecordDataset(self.file, buffer_size=8 << 20).enumerate()
        if num_shards > 1:
            records = records.shard(num_shards, shard_index)
        if keep is not None:
            keep_table = tf.constant(keep)
            records = records.filter(lambda index, record: tf.gather(keep_table, index))

        def one_epoch(epoch):
            epoch_records = records
            if shuffle:
                graph = tf.compat.v1.get_default_graph()
                if graph.seed is not None and graph.seed % _MAX_INT32 == 0:
                    # TF's get_seed compares (global seed, op seed) with (0, 0) in Python, which a tensor op seed
                    # cannot do: under a global seed of 0 (keras.utils.set_random_seed(0), --seed=0) use the
                    # graph-less default for this trace. Every other global seed keeps its order.
                    graph.seed = None
                epoch_records = epoch_records.shuffle(buffer, seed=epoch * 1_000_003 + seed,
                                                      reshuffle_each_iteration=False)
            return epoch_records.map(lambda index, record: (epoch, index, record))

        first_epoch, skip = divmod(int(start_image), shard_size)
        epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max if repeat else first_epoch + 1)
        ds = epochs.flat_map(one_epoch).skip(skip)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def decode(epoch, index, record):
            data = tf.io.parse_example(record, {"data": tf.io.FixedLenFeature([], tf.string)})["data"]
            images = tf.reshape(tf.io.decode_raw(data, tf.uint8), [-1, channels, height, width])
            images = tf.transpose(images, [0, 2, 3, 1])  # [NCHW] -> [NHWC], still uint8 (4x less to move)
            if mirror:
                flip = tf.cast(tf.bitwise.bitwise_and(_hash32(_hash32(index ^ seed) ^ epoch), 1), tf.int32)
                # Reverse only the flipped images (partition/stitch is ~4x faster than a broadcast tf.where).
                positions = tf.dynamic_partition(tf.range(tf.shape(images)[0]), flip, 2)
                kept, flipped = tf.dynamic_partition(images, flip, 2)
                images = tf.dynamic_stitch(positions, [kept, tf.reverse(flipped, axis=[2])])
            images = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0  # NV: adjust_dynamic_range([0,255] -> [-1,1])
            if augment is not None:
                images = augment(images, _hash32(_hash32(_hash32(index ^ seed) ^ epoch) ^ 0x5A17))
            return images, self.labels_of(index), index

        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.deterministic = True
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
        return ds.prefetch(tf.data.AUTOTUNE) if prefetch else ds

    def distributed_pipeline(self, strategy, global_batch_size, **kwargs):
        """The pipeline under a tf.distribute strategy: one shard per worker, each replica a per-replica batch.

        Each input pipeline (worker) reads `1/num_workers` of the records; the strategy hands consecutive
        per-replica batches to its replicas, so with one worker the global batch holds the same images as the
        single-device pipeline with batch `global_batch_size`.
        """
        start_image = kwargs.pop("start_image", 0)

        def dataset_fn(context):
            per_replica = context.get_per_replica_batch_size(global_batch_size)
            return self.pipeline(per_replica, num_shards=context.num_input_pipelines,
                                 shard_index=context.input_pipeline_id,
                                 start_image=start_image // context.num_input_pipelines, **kwargs)

        return strategy.distribute_datasets_from_function(dataset_fn)

    @contextlib.contextmanager
    def read_errors(self):
        """Turns TensorFlow's read errors (CRC mismatch, truncation) into one line naming the file."""
        try:
            yield
        except tf.errors.DataLossError as err:
            detail = str(err.message).splitlines()[0] if err.message else "data loss"
            # TensorFlow prefixes the function it ran in and suffixes the op: keep only the reason.
            detail = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[^\]]*\]", "", detail).strip() or "data loss"
            raise UserError(f"{self.file}: corrupted .tfrecords file ({detail}); re-create the dataset "
                            f"with dataset_tool.py") from None

    def iterate_numpy(self, batch_size=256, **kwargs):
        """One ordered pass as NumPy batches (images, labels, indices); read errors become UserError."""
        kwargs.setdefault("shuffle", False)
        ds = self.pipeline(batch_size, repeat=False, drop_remainder=False, **kwargs)
        iterator = iter(ds)
        while True:
            with self.read_errors():
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
            yield tuple(t.numpy() for t in batch)
