"""Looking at datasets: info (summary and full read check), display/extract (PNGs with labels), compare."""

import json
import os

import numpy as np

from stylegan2.errors import UserError
from stylegan2.images import save_grid, save_image, to_uint8


def _open(tfrecord_dir):
    from stylegan2.dataset import ImageDataset  # TensorFlow only when a command needs it

    return ImageDataset(tfrecord_dir)


def describe_label(dataset, row):
    """A short text for one label row: the class name, the attributes that are set, or the values."""
    if dataset.label_dim == 0:
        return ""
    names = dataset.label_names
    if dataset.is_onehot:
        k = int(np.argmax(row))
        return f"class {k}" + (f" ({names[k]})" if names and names[k] != str(k) and names[k] != f"{k:03d}" else "")
    if names and np.all((row == 0) | (row == 1)):
        return " ".join(n for n, v in zip(names, row) if v) or "(none)"
    return " ".join(f"{v:g}" for v in row)


def info(tfrecord_dir):
    """Prints a dataset's summary and reads every record once (CRC check); returns the summary as a dict."""
    dataset = _open(tfrecord_dir)
    meta = dataset.info.meta
    total = 0
    pixel_sum = 0.0
    for images, _, _ in dataset.iterate_numpy(batch_size=512):
        total += len(images)
        pixel_sum += float(images.astype(np.float64).sum())
    summary = {
        "path": dataset.path,
        "images": dataset.num_images,
        "resolution": dataset.resolution,
        "channels": dataset.channels,
        "resolutions": sorted(dataset.info.files),
        "label_dim": dataset.label_dim,
        "label_kind": meta.get("label_kind") or ("onehot" if dataset.is_onehot else None),
        "records_read": total,
        "mean_pixel": pixel_sum / max(1, total * np.prod(dataset.shape)),
    }
    print(f"Dataset      {dataset.path}")
    print(f"Images       {dataset.num_images} ({total} read, all CRCs valid)")
    print(f"Shape        {dataset.resolution}x{dataset.resolution}x{dataset.channels} (HWC); "
          f"files for {', '.join(str(r) for r in sorted(dataset.info.files))} px")
    print(f"Pixels       mean {summary['mean_pixel']:.4f} in [-1,1]")
    if dataset.label_dim == 0:
        print("Labels       none")
    elif dataset.is_onehot:
        counts = np.bincount(dataset.class_numbers(), minlength=dataset.label_dim)
        summary["classes_present"] = int(np.count_nonzero(counts))
        summary["images_per_class"] = [int(counts.min()), int(counts.max())]
        print(f"Labels       {dataset.label_dim} classes (one-hot), {summary['classes_present']} present, "
              f"{counts.min()}-{counts.max()} images per class")
    else:
        names = dataset.label_names or [str(i) for i in range(dataset.label_dim)]
        freq = dataset.labels.mean(axis=0)
        print(f"Labels       {dataset.label_dim} columns ({summary['label_kind'] or 'values'}); mean per column:")
        for start in range(0, len(names), 4):
            print("             " + "  ".join(f"{n[:20]:<20} {f:5.3f}" for n, f in
                                              zip(names[start:start + 4], freq[start:start + 4])))
    if meta.get("source"):
        print(f"Source       {json.dumps(meta['source'])}")
    if meta.get("command"):
        print(f"Command      {meta['command']}")
    if meta.get("created"):
        print(f"Created      {meta['created']}")
    return summary


def _first(dataset, num):
    images, labels = [], []
    for batch_images, batch_labels, _ in dataset.iterate_numpy(batch_size=min(num, 512)):
        images.append(batch_images)
        labels.append(batch_labels)
        if sum(len(b) for b in images) >= num:
            break
    if not images:
        raise UserError(f"{dataset.path}: the dataset holds no images")
    return np.concatenate(images)[:num], np.concatenate(labels)[:num]


def display(tfrecord_dir, num_images=64, output=None):
    """Writes the first images as one grid PNG and prints their labels (there is no screen to show them on)."""
    dataset = _open(tfrecord_dir)
    images, labels = _first(dataset, num_images)
    output = output or os.path.normpath(tfrecord_dir) + "-display.png"
    save_grid(images, output)
    for i, row in enumerate(labels):
        text = describe_label(dataset, row)
        if text:
            print(f"{i:6d}  {text}")
    print(f"Wrote a grid of {len(images)} images to {output}")


def extract(tfrecord_dir, output_dir, num_images=0):
    """Writes images as img%08d.png (NV naming) plus labels.txt; num_images 0 means all."""
    dataset = _open(tfrecord_dir)
    os.makedirs(output_dir, exist_ok=True)
    idx = 0
    with open(os.path.join(output_dir, "labels.txt"), "w") as label_file:
        for images, labels, _ in dataset.iterate_numpy(batch_size=512):
            for img, row in zip(to_uint8(images), labels):
                if num_images and idx >= num_images:
                    break
                name = f"img{idx:08d}.png"
                save_image(img, os.path.join(output_dir, name))
                label_file.write(f"{name} {describe_label(dataset, row)}".rstrip() + "\n")
                idx += 1
            if num_images and idx >= num_images:
                break
    print(f"Extracted {idx} images to {output_dir}")
    return idx


def compare(tfrecord_dir_a, tfrecord_dir_b, ignore_labels=0):
    """Counts identical images (and labels) record by record, as NV's compare does."""
    a, b = _open(tfrecord_dir_a), _open(tfrecord_dir_b)
    identical_images = identical_labels = compared = 0
    first_differences = []
    if a.shape != b.shape:
        print(f"Shapes differ: {a.shape} vs {b.shape}")
    else:
        for (ia, la, _), (ib, lb, _) in zip(a.iterate_numpy(512), b.iterate_numpy(512)):
            same_img = np.all(ia == ib, axis=(1, 2, 3))
            same_lab = (np.all(la == lb, axis=1) if la.shape == lb.shape else np.zeros(len(la), bool))
            for k in np.flatnonzero(~same_img | (~same_lab & (not ignore_labels)))[:10 - len(first_differences)]:
                first_differences.append(compared + int(k))
            identical_images += int(same_img.sum())
            identical_labels += int(same_lab.sum())
            compared += len(ia)
    if a.num_images != b.num_images:
        print(f"Datasets contain different numbers of images: {a.num_images} vs {b.num_images}")
    for k in first_differences:
        print(f"Record {k} differs")
    print(f"Identical images: {identical_images} / {compared}")
    if not ignore_labels:
        print(f"Identical labels: {identical_labels} / {compared}")
    return {"compared": compared, "identical_images": identical_images, "identical_labels": identical_labels,
            "same_count": a.num_images == b.num_images}
