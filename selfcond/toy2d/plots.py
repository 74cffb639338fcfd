"""Scatter plots of the 2D study as PNG (2d_mix/visualizations.py), drawn with Pillow and NumPy.

  all/{it}.png        test reals in red, fakes in blue, axes fitted to all points;
  all/{it}square.png  fakes only, alpha 0.1, on [-6, 6]^2 with equal axes;
  clusters/{it}.png   test points coloured by their cluster label (the original's 30-colour palette, cycled).
The original's cluster plot loops over range(y.max()) and so never draws the last cluster; here every cluster is.

Points are 3x3-pixel squares; a layer with alpha a darkens a pixel hit by n of its points by 1 - (1 - a)^n,
which is what drawing the points one by one with that alpha gives.
"""

import numpy as np
import PIL.Image
import PIL.ImageColor
import PIL.ImageDraw
import PIL.ImageFont

from stylegan2.images import save_image

COLORS = ["purple", "wheat", "maroon", "red", "powderblue", "dodgerblue", "magenta", "tan", "aqua", "yellow",
          "slategray", "blue", "rosybrown", "violet", "lightseagreen", "pink", "darkorange", "teal", "royalblue",
          "lawngreen", "gold", "navy", "darkgreen", "deeppink", "palegreen", "silver", "saddlebrown", "plum", "peru",
          "black"]
MARGIN = (56, 28, 16, 28)  # pixels left, top, right, bottom of the plot area: tick labels and the title
SQUARE_LIMIT = 6.0


def rgb(name):
    return np.array(PIL.ImageColor.getrgb(name), np.float64) / 255.0


def nice_ticks(lo, hi, target=5):
    """Round tick values (1, 2, 5 x 10^n steps) inside [lo, hi]."""
    raw = (hi - lo) / max(target, 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1, 2, 5, 10) if m * mag >= raw), default=10)
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def fitted_limits(points, margin=0.05):
    """matplotlib's autoscale: the data range padded by 5% each side (a unit range around a single value)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * margin, 0.5)
    return (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])


def scatter(path, layers, xlim, ylim, size=(640, 480), title=None):
    """Draws layers [(points [N, 2], colour name, alpha)] in order on white and saves a PNG atomically."""
    width, height = size
    left, top, right, bottom = MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom
    image = np.ones((height, width, 3))
    for points, colour, alpha in layers:
        points = np.asarray(points, np.float64).reshape(-1, 2)
        px = np.floor(left + (points[:, 0] - xlim[0]) / (xlim[1] - xlim[0]) * plot_w).astype(np.int64)
        py = np.floor(top + (ylim[1] - points[:, 1]) / (ylim[1] - ylim[0]) * plot_h).astype(np.int64)
        hits = np.zeros(height * width, np.int64)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                qx, qy = px + dx, py + dy
                inside = (qx >= left) & (qx < left + plot_w) & (qy >= top) & (qy < top + plot_h)
                hits += np.bincount(qy[inside] * width + qx[inside], minlength=height * width)
        cover = (1.0 - (1.0 - alpha) ** hits.reshape(height, width))[:, :, None]
        image = image * (1.0 - cover) + rgb(colour)[None, None, :] * cover
    pil = PIL.Image.fromarray(np.rint(image * 255).astype(np.uint8), "RGB")
    _draw_axes(PIL.ImageDraw.Draw(pil), xlim, ylim, (left, top, plot_w, plot_h), title)
    save_image(np.asarray(pil), path)


def _draw_axes(draw, xlim, ylim, box, title):
    left, top, plot_w, plot_h = box
    font = PIL.ImageFont.load_default()
    draw.rectangle([left - 1, top - 1, left + plot_w, top + plot_h], outline=(0, 0, 0))
    for value in nice_ticks(*xlim):
        x = left + (value - xlim[0]) / (xlim[1] - xlim[0]) * plot_w
        draw.line([x, top + plot_h, x, top + plot_h + 4], fill=(0, 0, 0))
        draw.text((x, top + plot_h + 6), f"{value:g}", fill=(0, 0, 0), font=font, anchor="mt")
    for value in nice_ticks(*ylim):
        y = top + (ylim[1] - value) / (ylim[1] - ylim[0]) * plot_h
        draw.line([left - 5, y, left - 1, y], fill=(0, 0, 0))
        draw.text((left - 7, y), f"{value:g}", fill=(0, 0, 0), font=font, anchor="rm")
    if title:
        draw.text((left, top // 2), title, fill=(0, 0, 0), font=font, anchor="lm")


def plot_generated(fakes, reals, path_all, path_square, title=""):
    """The original's visualize_generated: reals (red) and fakes (blue); fakes alone on [-6, 6]^2."""
    xlim, ylim = fitted_limits(np.concatenate([reals, fakes]))
    scatter(path_all, [(reals, "red", 1.0), (fakes, "blue", 1.0)], xlim, ylim,
            title=f"{title}: reals (red), fakes (blue)")
    lim = (-SQUARE_LIMIT, SQUARE_LIMIT)
    side = 480 + MARGIN[1] + MARGIN[3]
    scatter(path_square, [(fakes, "blue", 0.1)], lim, lim, size=(480 + MARGIN[0] + MARGIN[2], side),
            title=f"{title}: fakes")


def plot_clusters(points, labels, path, title=""):
    """The original's visualize_clusters: points coloured by label, palette cycled every 30 labels."""
    xlim, ylim = fitted_limits(points)
    layers = [(points[labels == c], COLORS[c % len(COLORS)], 1.0) for c in np.unique(labels)]
    scatter(path, layers, xlim, ylim, title=f"{title}: test points by cluster")
