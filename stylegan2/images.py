"""Image conversion and grids: from the networks' [-1,1] NHWC floats to PNG files."""

import os

import numpy as np
import PIL.Image

from stylegan2 import faults


def to_uint8(images, drange=(-1.0, 1.0)):
    """float images in `drange` -> uint8 [0,255], as NVIDIA's convert_to_pil_image (x*127.5+127.5, rint, clip)."""
    lo, hi = drange
    x = (np.asarray(images, np.float32) - lo) * (255.0 / (hi - lo))
    return np.rint(x).clip(0, 255).astype(np.uint8)


def grid_shape(num, max_width=None):
    """(columns, rows) of a near-square grid holding `num` images."""
    cols = int(np.ceil(np.sqrt(num))) if max_width is None else min(num, max_width)
    return cols, int(np.ceil(num / max(cols, 1)))


def make_grid(images, cols=None):
    """uint8 [N,H,W,C] -> one uint8 [rows*H, cols*W, C] image (empty cells black)."""
    images = np.asarray(images)
    num, h, w, c = images.shape
    cols = cols or grid_shape(num)[0]
    rows = int(np.ceil(num / cols))
    grid = np.zeros([rows * h, cols * w, c], images.dtype)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = img
    return grid


def save_image(image, path):
    """Saves a uint8 [H,W,C] (C = 1 or 3) image as PNG, atomically (temporary name, then rename)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    tmp = f"{path}.tmp-{os.getpid()}.png"
    PIL.Image.fromarray(image, "L" if image.ndim == 2 else "RGB").save(tmp)
    faults.point("image")
    os.replace(tmp, path)


def save_grid(images, path, cols=None, drange=None):
    """Saves images [N,H,W,C] as one grid PNG; float images are converted from `drange` (default [-1,1])."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = to_uint8(images, drange or (-1.0, 1.0))
    save_image(make_grid(images, cols), path)
