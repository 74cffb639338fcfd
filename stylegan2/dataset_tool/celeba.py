"""CelebA, aligned and cropped as InclusiveGAN does (IG:dataset_tool.py create_celeba), with the 40 attributes."""

import os

import numpy as np

from stylegan2.dataset_tool import tfds_source
from stylegan2.dataset_tool.common import ExportOptions, map_ordered, read_image, select_first, shuffled_order
from stylegan2.errors import UserError

ALIGNED_SHAPE = (218, 178, 3)  # img_align_celeba: 178 wide, 218 high
CROP = 128
ATTR_FILE = "list_attr_celeba.txt"


def find_attr_file(celeba_dir):
    """list_attr_celeba.txt beside the images, in the CelebA tree (celeba/Img/<images> -> celeba/Anno), or at
    IG's hard-coded celeba/Anno/ under the working directory."""
    candidates = [
        os.path.join(celeba_dir, ATTR_FILE),
        os.path.join(celeba_dir, os.pardir, "Anno", ATTR_FILE),
        os.path.join(celeba_dir, os.pardir, os.pardir, "Anno", ATTR_FILE),
        os.path.join("celeba", "Anno", ATTR_FILE),
    ]
    for path in candidates:
        if os.path.isfile(path):
            return os.path.normpath(path)
    raise UserError(f"{os.path.normpath(candidates[0])}: missing {ATTR_FILE} (also looked in "
                    f"{', '.join(os.path.normpath(c) for c in candidates[1:])}); pass --attr_file=PATH, "
                    f"or --export_attr 0 for a dataset without attributes")


def read_attr_file(path):
    """Parses list_attr_celeba.txt: line 1 the count, line 2 the attribute names, then `<image> ±1 ...` rows.

    Returns (names, {image file name: int8 vector in {0,1}}), -1 mapped to 0 as IG does.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read attribute file ({err})") from None
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise UserError(f"{path}: not a CelebA attribute file (line 1 must be the image count, line 2 the names)")
    names = lines[1].split()
    rows = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1 or any(v not in ("1", "-1") for v in fields[1:]):
            raise UserError(f"{path}: line {number} has {len(fields) - 1} values, expected {len(names)} of +-1")
        rows[fields[0]] = np.array([1 if v == "1" else 0 for v in fields[1:]], np.int8)
    if len(rows) != int(lines[0]):
        raise UserError(f"{path}: header says {int(lines[0])} images but {len(rows)} rows follow; the file is damaged")
    return names, rows


def _attributes_for(filenames, names, rows, attr_file, celeba_dir):
    labels = np.zeros([len(filenames), len(names)], np.float32)
    for i, path in enumerate(filenames):
        base = os.path.basename(path)
        key = base if base in rows else os.path.splitext(base)[0] + ".jpg"  # PNG conversions keep the JPG key
        if key not in rows:
            raise UserError(f"{attr_file}: no attributes for {base} (from {celeba_dir}); the attribute file does not "
                            f"match the images, pass the right --attr_file")
        labels[i] = rows[key]
    return labels


def _crop(img, path, cx, cy):
    if img.shape != ALIGNED_SHAPE:
        raise UserError(f"{path}: image is {img.shape[1]}x{img.shape[0]}"
                        f"{'' if img.ndim == 3 and img.shape[2] == 3 else ' (not RGB)'}, expected the 178x218 RGB "
                        f"aligned CelebA images (img_align_celeba)")
    return img[cy - CROP // 2: cy + CROP // 2, cx - CROP // 2: cx + CROP // 2].transpose(2, 0, 1)  # HWC -> CHW


def create_celeba(tfrecord_dir, celeba_dir, cx=89, cy=121, shuffle=1, num_images=0, num_shifts=0, export_attr=1,
                  attr_file=None, tfds=False, tfds_data_dir=None, split="train", export=ExportOptions()):
    """CelebA 128x128 crops centred at (cx, cy) of the sorted aligned images, with the 40 {0,1} attributes."""
    export.check(tfrecord_dir)
    if not (CROP // 2 <= cx <= ALIGNED_SHAPE[1] - CROP // 2 and CROP // 2 <= cy <= ALIGNED_SHAPE[0] - CROP // 2):
        raise UserError(f"--cx {cx} --cy {cy}: the 128x128 crop must lie inside the 178x218 image "
                        f"(64 <= cx <= 114, 64 <= cy <= 154)")
    if tfds:
        _create_celeba_tfds(tfrecord_dir, cx, cy, shuffle, num_images, num_shifts, export_attr, tfds_data_dir, split,
                            export)
        return
    if celeba_dir is None or not os.path.isdir(celeba_dir):
        raise UserError(f"{celeba_dir}: CelebA image directory not found; pass the img_align_celeba folder, or --tfds")
    files = sorted(f for f in os.listdir(celeba_dir) if f.lower().endswith(".png"))
    if not files:  # the PNG conversion IG used, else the JPGs as distributed
        files = sorted(f for f in os.listdir(celeba_dir) if f.lower().endswith((".jpg", ".jpeg")))
    if not files:
        raise UserError(f"{celeba_dir}: no .png or .jpg images; pass the img_align_celeba folder")
    files = select_first([os.path.join(celeba_dir, f) for f in files], num_images, num_shifts)
    labels = names = None
    if export_attr:
        attr_file = attr_file or find_attr_file(celeba_dir)
        names, rows = read_attr_file(attr_file)
        labels = _attributes_for(files, names, rows, attr_file, celeba_dir)  # checked before writing anything
    order = shuffled_order(len(files)) if shuffle else np.arange(len(files))
    source = {"kind": "celeba", "dir": celeba_dir, "cx": cx, "cy": cy, "shuffle": int(shuffle),
              "num_images": num_images, "num_shifts": num_shifts, "attr_file": attr_file}
    with export.exporter(tfrecord_dir, len(files), source) as tfr:
        ordered = [files[i] for i in order]
        for path, img in zip(ordered, map_ordered(lambda p: read_image(p), ordered)):
            tfr.add_image(_crop(img, path, cx, cy))
        if labels is not None:
            tfr.add_labels(labels[order], label_names=names, label_kind="attributes")


def _create_celeba_tfds(tfrecord_dir, cx, cy, shuffle, num_images, num_shifts, export_attr, data_dir, split, export):
    """The same crops and attributes from TFDS 'celeb_a' (its order, which is not the sorted file order)."""
    examples = list(tfds_source.iterate("celeb_a", split, data_dir))
    if not examples:
        raise UserError(f"TFDS 'celeb_a' split '{split}' is empty")
    examples = select_first(examples, num_images, num_shifts)
    names = list(examples[0]["attributes"].keys())
    order = shuffled_order(len(examples)) if shuffle else np.arange(len(examples))
    source = {"kind": "celeba", "tfds": True, "split": split, "cx": cx, "cy": cy, "shuffle": int(shuffle),
              "num_images": num_images, "num_shifts": num_shifts}
    with export.exporter(tfrecord_dir, len(examples), source) as tfr:
        for i in order:
            tfr.add_image(_crop(examples[i]["image"], f"tfds:celeb_a[{i}]", cx, cy))
        if export_attr:
            labels = np.array([[float(e["attributes"][n]) for n in names] for e in examples], np.float32)
            tfr.add_labels(labels[order], label_names=names, label_kind="attributes")
