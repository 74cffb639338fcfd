"""Generic sources: a folder of images, a legacy HDF5 archive, an LSUN lmdb database."""

import io
import os
import sys

import numpy as np
import PIL.Image

from stylegan2.dataset_tool.common import (ExportOptions, list_images, map_ordered, onehot, read_image, select_first,
                                           shuffled_order)
from stylegan2.errors import UserError


def _is_power_of_two(n):
    return n >= 4 and n & (n - 1) == 0


def center_crop_resize(img, resolution):
    """Centre crop to a square, then resize to resolution x resolution with PIL's Lanczos (NV create_lsun)."""
    h, w = img.shape[:2]
    crop = min(h, w)
    img = img[(h - crop) // 2:(h + crop) // 2, (w - crop) // 2:(w + crop) // 2]
    if crop != resolution:
        img = np.asarray(PIL.Image.fromarray(img).resize((resolution, resolution), PIL.Image.LANCZOS))
    return img


def _to_chw(img, channels):
    if channels == 1:
        return img[np.newaxis] if img.ndim == 2 else img[np.newaxis, :, :, 0]
    return img.transpose(2, 0, 1)


def _scan_folder(image_dir, labels_from_dirs, classes_idx=None):
    """Image files (sorted) and, with labels_from_dirs, the class number of each and the sorted class names; with
    classes_idx (start, end), only the sorted sub-folders start..end-1, numbered from 0 (ACGAN-PyTorch's folder.py)."""
    if not os.path.isdir(image_dir):
        raise UserError(f"{image_dir}: image directory not found")
    if not labels_from_dirs:
        files = list_images(image_dir)
        if not files:
            raise UserError(f"{image_dir}: no .png/.jpg images here (use --labels_from_dirs for one sub-folder per class)")
        return files, None, None
    classes = sorted(d for d in os.listdir(image_dir) if os.path.isdir(os.path.join(image_dir, d)))
    if classes_idx is not None:
        start, end = classes_idx
        if not 0 <= start < end <= len(classes):
            raise UserError(f"--classes_idx {start},{end}: {image_dir} has {len(classes)} class sub-folders; give "
                            f"START,END with 0 <= START < END <= {len(classes)}")
        classes = classes[start:end]
    files, labels = [], []
    for number, name in enumerate(classes):
        found = list_images(os.path.join(image_dir, name))
        files += found
        labels += [number] * len(found)
    if not files:
        raise UserError(f"{image_dir}: no class sub-folders with .png/.jpg images (--labels_from_dirs)")
    return files, np.asarray(labels, np.int64), classes


def _inspect(path):
    """(width, height, mode) from the file header, without decoding the pixels."""
    try:
        with PIL.Image.open(path) as img:
            alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
            if alpha:
                raise UserError(f"{path}: image has an alpha channel ({img.mode}); datasets are RGB or grayscale (as "
                                f"in NVIDIA's tools): flatten the images onto a background first")
            return img.size[0], img.size[1], img.mode
    except (OSError, ValueError, SyntaxError) as err:
        raise UserError(f"{path}: cannot read image ({err}); delete or replace the file") from None


def create_from_images(tfrecord_dir, image_dir, shuffle=1, num_images=0, num_shifts=0, resolution=None,
                       labels_from_dirs=False, classes_idx=None, export=ExportOptions()):
    """A folder of PNG/JPG images (NV create_from_images): square power-of-two images of one size, or any size
    with --resolution (centre crop + Lanczos resize). Grayscale folders stay 1-channel; anything else is RGB."""
    export.check(tfrecord_dir)
    if resolution is not None and not _is_power_of_two(resolution):
        raise UserError(f"--resolution {resolution}: must be a power of two >= 4")
    if classes_idx is not None and not labels_from_dirs:
        raise UserError("--classes_idx: selects class sub-folders; add --labels_from_dirs")
    files, labels, class_names = _scan_folder(image_dir, labels_from_dirs, classes_idx)
    picked = select_first(list(range(len(files))), num_images, num_shifts)
    files = [files[i] for i in picked]
    labels = labels[picked] if labels is not None else None
    headers = [_inspect(p) for p in files]  # every file checked before anything is written
    if resolution is None:
        size = headers[0][:2]
        for path, (w, h, _) in zip(files, headers):
            if w != h:
                raise UserError(f"{path}: image is {w}x{h}, not square; crop it or pass --resolution to centre-crop")
            if (w, h) != size:
                raise UserError(f"{path}: image is {w}x{h} but {files[0]} is {size[0]}x{size[1]}; all images must "
                                f"have one size, or pass --resolution to resize")
            if not _is_power_of_two(w):
                raise UserError(f"{path}: {w}x{h} is not a power of two; pass --resolution to resize")
        resolution = size[0]
    channels = 1 if all(mode in ("L", "1", "I", "I;16") for _, _, mode in headers) else 3
    mode = "L" if channels == 1 else "RGB"
    order = shuffled_order(len(files)) if shuffle else np.arange(len(files))
    ordered = [files[i] for i in order]
    source = {"kind": "images", "dir": image_dir, "shuffle": int(shuffle), "resolution": resolution,
              "labels_from_dirs": bool(labels_from_dirs), "num_images": num_images, "num_shifts": num_shifts}
    if classes_idx is not None:
        source["classes_idx"] = list(classes_idx)
    with export.exporter(tfrecord_dir, len(files), source) as tfr:
        for img in map_ordered(lambda p: center_crop_resize(read_image(p, mode), resolution), ordered):
            tfr.add_image(_to_chw(img, channels))
        if labels is not None:
            tfr.add_labels(onehot(labels[order], len(class_names)), label_names=class_names, label_kind="onehot")


def create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle=1, export=ExportOptions()):
    """A legacy HDF5 archive (NV create_from_hdf5): the largest `data*` array [N,C,H,W] uint8; labels from
    `<archive>-labels.npy` when present."""
    import h5py

    export.check(tfrecord_dir)
    if not os.path.isfile(hdf5_filename):
        raise UserError(f"{hdf5_filename}: HDF5 archive not found")
    try:
        hdf5 = h5py.File(hdf5_filename, "r")
    except OSError as err:
        raise UserError(f"{hdf5_filename}: not a readable HDF5 file ({err})") from None
    with hdf5:
        arrays = [v for k, v in hdf5.items() if k.startswith("data") and len(v.shape) == 4]
        if not arrays:
            raise UserError(f"{hdf5_filename}: no 'data...' arrays of shape [N,C,H,W]; not a ProGAN-style archive")
        data = max(arrays, key=lambda a: a.shape[3])
        labels = None
        npy = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
        if os.path.isfile(npy):
            labels = np.load(npy, allow_pickle=False)
            if len(labels) != data.shape[0]:
                raise UserError(f"{npy}: {len(labels)} labels for {data.shape[0]} images in {hdf5_filename}")
            labels = labels.reshape(len(labels), -1)
        order = shuffled_order(data.shape[0]) if shuffle else np.arange(data.shape[0])
        source = {"kind": "hdf5", "file": hdf5_filename, "shuffle": int(shuffle)}
        with export.exporter(tfrecord_dir, data.shape[0], source) as tfr:
            for i in order:
                tfr.add_image(np.asarray(data[i], np.uint8))
            if labels is not None:
                tfr.add_labels(labels[order])


def create_lsun(tfrecord_dir, lmdb_dir, resolution=256, max_images=None, export=ExportOptions()):
    """One LSUN category from its lmdb database (NV create_lsun): centre crop, Lanczos resize, stored order."""
    export.check(tfrecord_dir)
    try:
        import lmdb
    except ImportError:
        raise UserError("create_lsun needs the lmdb package: pip install -e '.[lsun]'") from None
    if not _is_power_of_two(resolution):
        raise UserError(f"--resolution {resolution}: must be a power of two >= 4")
    if not os.path.isdir(lmdb_dir):
        raise UserError(f"{lmdb_dir}: LSUN lmdb directory not found (e.g. bedroom_train_lmdb)")
    try:
        env = lmdb.open(lmdb_dir, readonly=True, lock=False, readahead=False)
    except lmdb.Error as err:
        raise UserError(f"{lmdb_dir}: not a readable lmdb database ({err})") from None
    skipped = 0
    with env, env.begin(write=False) as txn:
        total = txn.stat()["entries"]
        expected = total if max_images is None else min(max_images, total)
        source = {"kind": "lsun", "dir": lmdb_dir, "resolution": resolution, "max_images": max_images}
        with export.exporter(tfrecord_dir, expected, source) as tfr:
            for key, value in txn.cursor():
                try:
                    with PIL.Image.open(io.BytesIO(value)) as img:
                        arr = np.asarray(img.convert("RGB"))
                except (OSError, ValueError, SyntaxError):
                    skipped += 1  # NV prints the error and goes on
                    continue
                tfr.add_image(center_crop_resize(arr, resolution).transpose(2, 0, 1))
                if tfr.cur_images == expected:
                    break
    if skipped:
        print(f"warning: {lmdb_dir}: skipped {skipped} undecodable images", file=sys.stderr)
