"""Dataset writing and pipeline reading throughput (img/s) at 32x32 and 128x128.

    .venv/bin/python bench/bench_dataset.py [--images32 40000] [--images128 4000]

Writes random RGB images with dataset_tool's exporter (with NVIDIA's lower-resolution files, and without), then
reads them back through stylegan2.dataset's training pipeline (shuffle, decode to [-1,1], with and without mirror
augment). Prints one line per measurement and the peak resident memory.
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from stylegan2 import environment  # noqa: E402  (before TensorFlow is imported)

environment.configure()

import numpy as np

from stylegan2.dataset import ImageDataset
from stylegan2.tfrecords import TFRecordExporter


def write(path, images, lods):
    start = time.perf_counter()
    with TFRecordExporter(path, len(images), lods=lods, progress=False, tfds_metadata=False) as tfr:
        for chunk in range(0, len(images), 1000):
            tfr.add_images(images[chunk:chunk + 1000])
    return len(images) / (time.perf_counter() - start)


def read(path, batch, mirror, seconds=8.0):
    iterator = iter(ImageDataset(path).pipeline(batch, mirror=mirror, seed=0))
    for _ in range(20):  # fill the shuffle buffer, warm up
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images, _, _ = next(iterator)
        count += images.shape[0]
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images32", type=int, default=40000)
    parser.add_argument("--images128", type=int, default=4000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-dataset-")
    print(f"machine: {os.cpu_count()} CPU cores")
    try:
        for res, num, batch in [(32, args.images32, 256), (128, args.images128, 64)]:
            images = np.random.RandomState(0).randint(0, 256, size=(num, 3, res, res), dtype=np.uint8)
            rate_lods = write(os.path.join(root, f"r{res}-lods"), images, lods=True)
            rate = write(os.path.join(root, f"r{res}"), images, lods=False)
            print(f"write {res}x{res}: {rate:8.0f} img/s   (with lower-resolution files: {rate_lods:8.0f} img/s)")
            for mirror in (False, True):
                rate = read(os.path.join(root, f"r{res}"), batch, mirror)
                print(f"read  {res}x{res}: {rate:8.0f} img/s   (batch {batch}, shuffled, mirror={mirror})")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
