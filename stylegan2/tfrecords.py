"""NVIDIA's StyleGAN2 TFRecord dataset format: write it (TFRecordExporter) and inspect it (read_dataset_info).

A dataset is a directory (NV:dataset_tool.py TFRecordExporter, NV:training/dataset.py TFRecordDataset):

    <dir>/<name>-rNN.tfrecords   tf.train.Example {shape: int64 [C,H,W], data: bytes, raw uint8 CHW};
                                 NN = log2(resolution); lower resolutions (lods, 2x2 box filtered) optional
    <dir>/<name>-rxx.labels      np.save of float32 [N, label_dim]; row i belongs to record i
    <dir>/dataset.json           ours: count, resolution, channels, label names, source, the command line
    <dir>/dataset_info.json, <dir>/features.json
                                 TFDS metadata, so `tfds.builder_from_directory(<dir>)` reads the same records
                                 (one split per resolution, named 'rNN')

The original readers glob `*.tfrecords` and `*.labels`, so our extra JSON files do not disturb them, and any
dataset they wrote reads here (this module never assumes the file name prefix).

Every record of a file has the same size (same shape, same serialised layout), which makes a truncated file
detectable from its size alone; corruption inside a record is caught by TFRecord's CRC when it is read.
"""

import dataclasses
import datetime
import json
import os
import re
import shutil
import struct
import sys
import time

import numpy as np

from stylegan2.errors import UserError

DATASET_JSON = "dataset.json"
FORMAT_NAME = "stylegan2-tfrecords"
FORMAT_VERSION = 1

# ----------------------------------------------------------------------------
# Record encoding: a tf.train.Example serialised by hand. Only `data` varies between records, so the bytes
# before it are computed once per shape and each record is `prefix + data` (the TFRecordWriter adds framing/CRC).


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_delimited(field_number, payload):
    return bytes([(field_number << 3) | 2]) + _varint(len(payload)) + payload


def example_prefix(shape, data_len):
    """The serialised tf.train.Example for `shape` [C,H,W], up to (excluding) its `data_len` raw data bytes."""
    # Example.features(1) > Features.feature(1, map entry: key(1), value(2)) > Feature.int64_list(3) | bytes_list(1).
    int64_list = _len_delimited(1, b"".join(_varint(int(v)) for v in shape))  # packed Int64List.value
    shape_entry = _len_delimited(1, _len_delimited(1, b"shape") + _len_delimited(2, _len_delimited(3, int64_list)))
    bytes_list_len = 1 + len(_varint(data_len)) + data_len
    feature_len = 1 + len(_varint(bytes_list_len)) + bytes_list_len
    key = _len_delimited(1, b"data")
    entry_len = len(key) + 1 + len(_varint(feature_len)) + feature_len
    data_entry_head = (b"\x0a" + _varint(entry_len) + key + b"\x12" + _varint(feature_len)
                       + b"\x0a" + _varint(bytes_list_len) + b"\x0a" + _varint(data_len))
    features_len = len(shape_entry) + len(data_entry_head) + data_len
    return b"\x0a" + _varint(features_len) + shape_entry + data_entry_head


def _read_varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _iter_fields(buf, start, end):
    """Yields (field_number, wire_type, value_start, value_end_or_int) of a protobuf message."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 2:
            length, pos = _read_varint(buf, pos)
            yield field, wire, pos, pos + length
            pos += length
        elif wire == 0:
            value, pos = _read_varint(buf, pos)
            yield field, wire, value, None
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def parse_example_header(buf):
    """Parses an NVIDIA-format tf.train.Example (in any field order): returns (shape tuple, data offset, data length)."""
    shape = data = None
    for field, _, start, end in _iter_fields(buf, 0, len(buf)):
        if field != 1:
            continue
        for entry_field, _, e_start, e_end in _iter_fields(buf, start, end):
            if entry_field != 1:
                continue
            key = value = None
            for f, _, s, e in _iter_fields(buf, e_start, e_end):
                if f == 1:
                    key = bytes(buf[s:e])
                elif f == 2:
                    value = (s, e)
            if key is None or value is None:
                continue
            for kind, _, s, e in _iter_fields(buf, *value):
                if key == b"shape" and kind == 3:
                    dims = []
                    for f, wire, vs, ve in _iter_fields(buf, s, e):
                        if wire == 2:  # packed
                            pos = vs
                            while pos < ve:
                                v, pos = _read_varint(buf, pos)
                                dims.append(v)
                        else:
                            dims.append(vs)
                    shape = tuple(dims)
                elif key == b"data" and kind == 1:
                    for f, _, vs, ve in _iter_fields(buf, s, e):
                        data = (vs, ve - vs)
    if shape is None or data is None:
        raise ValueError("record has no 'shape' and 'data' features")
    return shape, data[0], data[1]


def read_first_record(path):
    """The payload of the first record of a .tfrecords file, and the framed size of one record (8+4+len+4)."""
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12:
            raise UserError(f"{path}: empty or truncated .tfrecords file; re-create the dataset with dataset_tool.py")
        (length,) = struct.unpack("<Q", header[:8])
        if length > 1 << 31:
            raise UserError(f"{path}: corrupted .tfrecords file (impossible record length); re-create the dataset")
        payload = f.read(length)
        if len(payload) < length:
            raise UserError(f"{path}: truncated .tfrecords file; re-create the dataset with dataset_tool.py")
    return payload, 8 + 4 + length + 4


# ----------------------------------------------------------------------------
# Inspecting a dataset directory.


@dataclasses.dataclass
class DatasetInfo:
    """What a dataset directory holds, checked for consistency (see read_dataset_info)."""

    path: str
    files: dict  # resolution -> .tfrecords path
    resolution: int  # highest resolution
    channels: int
    num_images: int
    label_file: str = None  # *.labels, or None
    label_dim: int = 0
    label_names: list = None  # names of the label columns (CelebA attributes, class names), if known
    meta: dict = dataclasses.field(default_factory=dict)  # dataset.json, or {} for datasets made by other tools

    @property
    def shape(self):
        """[H, W, C] of the highest-resolution images, as the pipeline yields them."""
        return [self.resolution, self.resolution, self.channels]

    def file_for(self, resolution=None):
        resolution = resolution or self.resolution
        if resolution not in self.files:
            have = ", ".join(str(r) for r in sorted(self.files))
            raise UserError(f"{self.path}: no {resolution}x{resolution} images in this dataset (it has {have}); "
                            f"re-create it with --lods=true or pick one of those resolutions")
        return self.files[resolution]


def read_dataset_info(path):
    """Reads and validates a dataset directory without touching TensorFlow; raises UserError on any inconsistency."""
    path = os.path.normpath(path)
    if not os.path.isdir(path):
        raise UserError(f"{path}: no such dataset directory; create it with `python dataset_tool.py create_...` "
                        f"or fix --data-dir/--dataset")
    names = sorted(os.listdir(path))
    tfr_files = [os.path.join(path, n) for n in names if n.endswith(".tfrecords")]
    if not tfr_files:
        raise UserError(f"{path}: no *.tfrecords files here; is it a dataset made by dataset_tool.py?")
    meta = {}
    meta_path = os.path.join(path, DATASET_JSON)
    if os.path.isfile(meta_path):
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except (OSError, ValueError) as err:
            raise UserError(f"{meta_path}: unreadable ({err}); delete it (the records still read) or re-create the dataset")

    files, counts, channels = {}, {}, set()
    for tfr in tfr_files:
        payload, framed = read_first_record(tfr)
        try:
            shape, _, data_len = parse_example_header(payload)
        except (ValueError, IndexError):
            raise UserError(f"{tfr}: corrupted .tfrecords file (first record is not an image Example); re-create the dataset")
        if len(shape) != 3 or shape[1] != shape[2] or shape[0] not in (1, 3) or data_len != int(np.prod(shape)):
            raise UserError(f"{tfr}: records have shape {list(shape)}, expected [C, R, R] with C in (1, 3); "
                            f"not a StyleGAN2 image dataset")
        size = os.path.getsize(tfr)
        if size % framed:
            raise UserError(f"{tfr}: truncated or corrupted .tfrecords file ({size} bytes is not a whole number of "
                            f"{framed}-byte records); re-create the dataset with dataset_tool.py")
        if shape[1] in files:
            raise UserError(f"{path}: two files hold {shape[1]}x{shape[1]} images ({files[shape[1]]}, {tfr}); keep one")
        files[shape[1]] = tfr
        counts[tfr] = size // framed
        channels.add(shape[0])
    if len(channels) != 1 or len(set(counts.values())) != 1:
        detail = ", ".join(f"{os.path.basename(f)}: {n}" for f, n in counts.items())
        raise UserError(f"{path}: the .tfrecords files disagree ({detail}; channels {sorted(channels)}); "
                        f"re-create the dataset")
    num_images = next(iter(counts.values()))
    if meta.get("count") not in (None, num_images):
        raise UserError(f"{meta_path}: says {meta['count']} images but the records hold {num_images}; "
                        f"re-create the dataset")

    info = DatasetInfo(path=path, files=files, resolution=max(files), channels=channels.pop(),
                       num_images=num_images, meta=meta, label_names=meta.get("label_names"))
    label_files = [os.path.join(path, n) for n in names if n.endswith(".labels")]
    if label_files:
        info.label_file = label_files[0]
        try:
            labels = np.load(info.label_file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise UserError(f"{info.label_file}: unreadable label file ({err}); re-create the dataset")
        if labels.ndim != 2 or labels.shape[0] != num_images:
            raise UserError(f"{info.label_file}: labels of shape {list(labels.shape)} do not fit {num_images} images "
                            f"(expected [{num_images}, label_dim]); re-create the dataset")
        info.label_dim = int(labels.shape[1])
    return info


def load_labels(info):
    """The label rows as float32 [N, label_dim] ([N, 0] when the dataset has none)."""
    if info.label_file is None:
        return np.zeros([info.num_images, 0], np.float32)
    return np.load(info.label_file, allow_pickle=False).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------
# Writing a dataset.


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Progress:
    """A one-line counter on stderr ('\\r' updates on a terminal, a line every 10% otherwise)."""

    def __init__(self, total, label, enabled=True):
        self.total, self.label, self.enabled = total, label, enabled
        self.tty = sys.stderr.isatty()
        self.start = None
        self.next_report = 0

    def update(self, done):
        if self.start is None:
            self.start = time.time()  # from the first image: source loading and imports are not writing
        if not self.enabled or done < self.next_report:
            return
        if self.tty:
            self.next_report = done + max(1, (self.total or 1000) // 200)
            print(f"\r{self.label}: {done} / {self.total or '?'}", end="", file=sys.stderr, flush=True)
        else:
            step = max(1, (self.total or 10000) // 10)
            self.next_report = (done // step + 1) * step
            if done:
                print(f"{self.label}: {done} / {self.total or '?'}", file=sys.stderr, flush=True)

    def close(self, done):
        if self.enabled:
            sec = time.time() - (self.start or time.time())
            rate = done / sec if sec > 0 else float("inf")
            print(f"{chr(13) if self.tty else ''}{self.label}: {done} images in {sec:.1f} s ({rate:.0f} img/s)",
                  file=sys.stderr, flush=True)


def check_output_dir(tfrecord_dir, overwrite=False):
    """Refuses an existing output directory unless overwriting; call it before reading any source."""
    tfrecord_dir = os.path.normpath(tfrecord_dir)
    if os.path.exists(tfrecord_dir) and not overwrite:
        raise UserError(f"{tfrecord_dir}: output directory already exists; choose a new path or pass --overwrite")
    if os.path.isfile(tfrecord_dir):
        raise UserError(f"{tfrecord_dir}: is a file, not a directory; choose another output path")
    ancestor = os.path.dirname(os.path.abspath(tfrecord_dir))
    while ancestor and not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if ancestor and not os.path.isdir(ancestor):
        raise UserError(f"{tfrecord_dir}: {ancestor} is a file, not a directory; choose another output path")
    return tfrecord_dir


class TFRecordExporter:
    """Writes a dataset in NVIDIA's TFRecord format, atomically.

    Everything is written into a hidden temporary directory beside the target, renamed into place by `close()`;
    an error or interrupt removes it, so an interrupted run never leaves a dataset that looks complete.

        with TFRecordExporter("datasets/mnist", expected_images=len(x), source={...}, command=...) as tfr:
            for img in images_chw:
                tfr.add_image(img)
            tfr.add_labels(onehot, label_names=[...], label_kind="onehot")

    Images are uint8 [C,H,W] (NV's layout; `add_images` takes [N,C,H,W]), square, power-of-two, C in {1,3}.
    With `lods=True` (NVIDIA's behaviour, which its reader requires) every lower resolution down to 4x4 is written
    too, each a 2x2 box filter of the previous level's float image, rounded when written (NV:TFRecordExporter).
    """

    def __init__(self, tfrecord_dir, expected_images=None, *, lods=True, overwrite=False, source=None,
                 command=None, progress=True, tfds_metadata=True):
        self.tfrecord_dir = check_output_dir(tfrecord_dir, overwrite)
        self.name = os.path.basename(self.tfrecord_dir)
        self.expected_images = expected_images
        self.lods = lods
        self.source = source or {}
        self.command = command
        self.tfds_metadata = tfds_metadata
        self.cur_images = 0
        self.shape = None
        self.labels = None
        self.label_names = None
        self.label_kind = None
        self._writers = []
        self._prefixes = []
        parent = os.path.dirname(os.path.abspath(self.tfrecord_dir))
        self.tmp_dir = os.path.join(parent, f".{self.name}.partial-{os.getpid()}")
        try:
            os.makedirs(parent, exist_ok=True)
            self._remove_stale_partials(parent)
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            os.makedirs(self.tmp_dir)
        except (FileExistsError, NotADirectoryError):
            raise UserError(f"{self.tfrecord_dir}: a parent of this path is a file, not a directory; choose another "
                            f"output path") from None
        except OSError as err:
            raise UserError(f"{self.tfrecord_dir}: cannot write there ({err.strerror}); choose another output "
                            f"path") from None
        self._progress = _Progress(expected_images, f"Writing {self.tfrecord_dir}", progress)

    def _remove_stale_partials(self, parent):
        """Removes partial directories of this target left by killed runs (their process is gone)."""
        prefix = f".{self.name}.partial-"
        for entry in os.listdir(parent):
            if entry.startswith(prefix) and entry[len(prefix):].isdigit() and not _pid_alive(int(entry[len(prefix):])):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)

    def _open(self, shape):
        import tensorflow as tf  # deferred: inspecting datasets should not pay for TensorFlow

        channels, height, width = shape
        log2 = int(np.log2(height))
        if channels not in (1, 3) or height != width or height != 2 ** log2 or height < 4:
            raise ValueError(f"images must be [C,R,R] with C in (1,3) and R a power of two >= 4, got {list(shape)}")
        self.shape = tuple(shape)
        levels = range(log2, 1, -1) if self.lods else [log2]
        for level in levels:
            res = 2 ** level
            path = os.path.join(self.tmp_dir, f"{self.name}-r{level:02d}.tfrecords")
            self._writers.append(tf.io.TFRecordWriter(path))
            self._prefixes.append(example_prefix((channels, res, res), channels * res * res))

    def add_image(self, img):
        """Adds one uint8 image [C,H,W]."""
        self.add_images(np.asarray(img)[np.newaxis])

    def add_images(self, imgs):
        """Adds uint8 images [N,C,H,W] in order."""
        imgs = np.asarray(imgs)
        if imgs.ndim != 4:
            raise ValueError(f"add_images takes [N,C,H,W], got shape {list(imgs.shape)}")
        if self.shape is None:
            self._open(imgs.shape[1:])
        if tuple(imgs.shape[1:]) != self.shape:
            raise ValueError(f"image shape {list(imgs.shape[1:])} differs from the dataset's {list(self.shape)}")
        for start in range(0, len(imgs), 64):  # small chunks keep the lod arithmetic in cache
            level = imgs[start:start + 64]
            for i, (writer, prefix) in enumerate(zip(self._writers, self._prefixes)):
                if i:
                    level = level.astype(np.float32)
                    level = (level[:, :, 0::2, 0::2] + level[:, :, 0::2, 1::2]
                             + level[:, :, 1::2, 0::2] + level[:, :, 1::2, 1::2]) * 0.25
                quant = level if level.dtype == np.uint8 else np.rint(level).clip(0, 255).astype(np.uint8)
                for img in quant:
                    writer.write(prefix + img.tobytes())
        self.cur_images += len(imgs)
        self._progress.update(self.cur_images)

    def add_labels(self, labels, label_names=None, label_kind=None):
        """Sets the float32 label rows [N, dim] (row i for image i); `label_kind` is 'onehot' or 'attributes'."""
        labels = np.asarray(labels, np.float32)
        if labels.ndim != 2:
            raise ValueError(f"labels must be [N, dim], got shape {list(labels.shape)}")
        if label_names is not None and len(label_names) != labels.shape[1]:
            raise ValueError(f"{len(label_names)} label names for {labels.shape[1]} label columns")
        self.labels, self.label_names, self.label_kind = labels, label_names, label_kind

    def abort(self):
        for writer in self._writers:
            writer.close()
        self._writers = []
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def close(self):
        """Finishes the files and moves the dataset into place (replacing an old one only when overwriting)."""
        for writer in self._writers:
            writer.close()
        self._writers = []
        if self.cur_images == 0:
            self.abort()
            raise UserError(f"{self.tfrecord_dir}: no images to write; check the source directory and options")
        levels = sorted({int(np.log2(self.shape[1])) - i for i in range(len(self._prefixes))}, reverse=True)
        if self.tfds_metadata:
            write_tfds_metadata(self.tmp_dir, name=self.name, levels=levels, count=self.cur_images)
        prefix = os.path.join(self.tmp_dir, self.name)
        if self.labels is not None:
            if self.labels.shape[0] != self.cur_images:
                self.abort()
                raise ValueError(f"{self.labels.shape[0]} label rows for {self.cur_images} images")
            with open(prefix + "-rxx.labels", "wb") as f:  # a file object: np.save would append '.npy' to a name
                np.save(f, self.labels)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "count": self.cur_images,
            "resolution": self.shape[1],
            "channels": self.shape[0],
            "files": [f"{self.name}-r{level:02d}.tfrecords" for level in levels],
            "label_file": f"{self.name}-rxx.labels" if self.labels is not None else None,
            "label_dim": 0 if self.labels is None else int(self.labels.shape[1]),
            "label_kind": self.label_kind if self.labels is not None else None,
            "label_names": self.label_names,
            "source": self.source,
            "command": self.command,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(os.path.join(self.tmp_dir, DATASET_JSON), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        self._progress.close(self.cur_images)
        old = None
        if os.path.exists(self.tfrecord_dir):  # --overwrite: swap, then delete the old dataset
            old = self.tmp_dir.replace(".partial-", ".old-")
            os.rename(self.tfrecord_dir, old)
        os.rename(self.tmp_dir, self.tfrecord_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_tfds_metadata(path, name=None, levels=None, count=None):
    """Writes TFDS metadata (dataset_info.json, features.json) for the records in `path`, without copying them.

    Afterwards `tfds.builder_from_directory(path).as_dataset(split='rNN')` yields {'shape': int64 [3], 'data': bytes}
    per record (decode with `np.frombuffer(data, np.uint8).reshape(shape)`); labels stay in the `.labels` file.
    """
    import tensorflow_datasets as tfds

    if name is None:
        info = read_dataset_info(path)
        name = os.path.basename(next(iter(info.files.values()))).rsplit("-r", 1)[0]
        levels = sorted((int(np.log2(r)) for r in info.files), reverse=True)
        count = info.num_images
    features = tfds.features.FeaturesDict({
        "shape": tfds.features.Tensor(shape=(3,), dtype=np.int64),
        "data": tfds.features.Tensor(shape=(), dtype=np.bytes_),
    })
    # The file prefix goes into the template literally: TFDS dataset names allow no '-' and would not parse.
    template = tfds.core.ShardedFileTemplate(data_dir=path, template=name.replace("{", "{{").replace("}", "}}")
                                             + "-{SPLIT}.tfrecords", filetype_suffix="tfrecord",
                                             dataset_name=re.sub(r"\W", "_", name).lower().strip("_") or "dataset")
    split_infos = [
        tfds.core.SplitInfo(name=f"r{level:02d}", shard_lengths=[count],
                            num_bytes=os.path.getsize(os.path.join(path, f"{name}-r{level:02d}.tfrecords")),
                            filename_template=template.replace(split=f"r{level:02d}"))
        for level in levels
    ]
    tfds.folder_dataset.write_metadata(data_dir=path, features=features, split_infos=split_infos,
                                       filename_template=template, check_data=False)
