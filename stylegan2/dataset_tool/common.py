"""What every dataset_tool source shares: output options, NVIDIA's shuffle order, labels, safe image reading."""

import concurrent.futures
import dataclasses
import os
import shutil

import numpy as np
import PIL.Image

from stylegan2.errors import UserError
from stylegan2.tfrecords import TFRecordExporter, check_output_dir

SHUFFLE_SEED = 123  # NV:dataset_tool.py TFRecordExporter.choose_shuffled_order
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How a create_* command writes its output (the flags every create_* command shares)."""

    overwrite: bool = False  # replace an existing output directory
    lods: bool = True  # also write every lower resolution down to 4x4, as NVIDIA's tools do (their reader needs it)
    command: str = None  # the command line, recorded in dataset.json
    progress: bool = True

    def check(self, tfrecord_dir):
        """Fails early (before any source is read) if the output directory exists and may not be replaced."""
        return check_output_dir(tfrecord_dir, self.overwrite)

    def exporter(self, tfrecord_dir, expected_images, source):
        return TFRecordExporter(tfrecord_dir, expected_images, lods=self.lods, overwrite=self.overwrite,
                                source=source, command=self.command, progress=self.progress)


def shuffled_order(num):
    """NVIDIA's image order for shuffled datasets: RandomState(123) shuffle of arange(num)."""
    order = np.arange(num)
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    return order


def onehot(classes, depth):
    classes = np.asarray(classes, np.int64)
    out = np.zeros([classes.size, depth], np.float32)
    out[np.arange(classes.size), classes] = 1.0
    return out


def pad_28_to_32(images):
    """MNIST digits [N,28,28] -> [N,32,32] with 2 px of zeros on each side (NV create_mnist/create_mnistrgb)."""
    return np.pad(images, [(0, 0), (2, 2), (2, 2)], mode="constant", constant_values=0)


def stack_digits(digits, classes, num_images, seed):
    """Stacked-MNIST composition (IG:dataset_tool.py create_mnistrgb): per image three digits drawn with
    replacement by RandomState(seed).randint, channel c = digit c; class = d0 + 10 d1 + 100 d2.

    Returns uint8 [num_images,3,32,32] and int64 classes [num_images].
    """
    return next(stacked_digit_chunks(digits, classes, num_images, seed))


def stacked_digit_chunks(digits, classes, num_images, seed, chunk=None):
    """stack_digits in consecutive chunks of at most `chunk` images (default: all at once), so memory stays bounded
    whatever num_images is: yields (uint8 images [n,3,32,32], int64 classes [n])."""
    # Successive calls draw the same stream as IG's per-image `rnd.randint(n, size=3)` calls (checked in the tests).
    rnd = np.random.RandomState(seed)
    chunk = chunk or num_images
    for start in range(0, num_images, chunk):
        picks = rnd.randint(digits.shape[0], size=(min(chunk, num_images - start), 3))
        stacked_classes = classes[picks[:, 0]] + 10 * classes[picks[:, 1]] + 100 * classes[picks[:, 2]]
        yield digits[picks], stacked_classes.astype(np.int64)


def check_disk_space(tfrecord_dir, num_images, bytes_per_image):
    """Refuses a dataset that cannot fit on the output's file system (before anything is generated)."""
    need = num_images * bytes_per_image
    parent = os.path.dirname(os.path.abspath(tfrecord_dir))
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    free = shutil.disk_usage(parent).free
    if need > free:
        raise UserError(f"--num_images {num_images}: the dataset would take {_size(need)}, but {parent} has "
                        f"{_size(free)} free; choose fewer images or another output path")


def _size(num_bytes):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1000 or unit == "TB":
            return f"{num_bytes:.1f} {unit}" if unit != "B" else f"{num_bytes} B"
        num_bytes /= 1000


def require_dir(path, what, flag_hint):
    if path is None or not os.path.isdir(path):
        raise UserError(f"{path}: {what} directory not found; {flag_hint}")
    return path


def require_file(path, fix):
    if not os.path.isfile(path):
        raise UserError(f"{path}: file not found; {fix}")
    return path


def read_image(path, mode=None):
    """Decodes an image file to a uint8 array [H,W] or [H,W,C]; an unreadable file is a UserError naming it."""
    try:
        with PIL.Image.open(path) as img:
            if mode is not None and img.mode != mode:
                img = img.convert(mode)
            return np.asarray(img)
    except (OSError, ValueError, SyntaxError) as err:  # PIL raises these for truncated/corrupt/unknown files
        raise UserError(f"{path}: cannot read image ({err}); delete or replace the file") from None


def map_ordered(func, items, threads=None):
    """func over items with a thread pool (PIL decodes without the GIL), results in order, lazily."""
    threads = threads or min(8, (os.cpu_count() or 1) * 2)
    items = list(items)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        window = threads * 8
        futures = [pool.submit(func, item) for item in items[:window]]
        for i in range(len(items)):
            if i + window < len(items):
                futures.append(pool.submit(func, items[i + window]))
            yield futures[i].result()
            futures[i] = None


def list_images(directory):
    """Sorted image files (png/jpg) directly in `directory`."""
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(directory, n)))


def select_first(items, num_images, num_shifts):
    """IG's selection: all (num_images 0), the first num_images, or the first num_images-num_shifts plus the last
    num_shifts."""
    if num_images < 0 or num_shifts < 0 or num_shifts > num_images:
        raise UserError(f"--num_images {num_images} / --num_shifts {num_shifts}: need 0 <= num_shifts <= num_images")
    if num_images == 0:
        return list(items)
    if num_images > len(items):
        raise UserError(f"--num_images {num_images}: only {len(items)} images are available")
    if num_shifts == 0:
        return list(items[:num_images])
    return list(items[:num_images - num_shifts]) + list(items[-num_shifts:])
