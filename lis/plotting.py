"""Small PNG plots with PIL alone (the project has no plotting library): scatter plots, 2-D density maps and line
plots with axes, ticks, labels and a legend, written atomically. Enough for the original's t-SNE and per-component
density figures (g_lis/sample_tsne.py, sample_density.py), not a general plotting package."""

import os

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127)]  # depth r gets COLORS[r % 8]
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 30, 40


def _font(size=12):
    return PIL.ImageFont.load_default(size=size)


def _ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi]."""
    span = hi - lo
    step = 10 ** np.floor(np.log10(span / count)) if span > 0 else 1.0
    for mult in (1, 2, 5, 10):
        if span / (step * mult) <= count:
            step *= mult
            break
    return np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)


def _fmt(value):
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


class Axes:
    """A plot area of `size` pixels with data limits; `to_pixels` maps data to image coordinates."""

    def __init__(self, size, xlim, ylim, title="", xlabel="", ylabel=""):
        self.width, self.height = size
        self.xlim, self.ylim = (float(xlim[0]), float(xlim[1])), (float(ylim[0]), float(ylim[1]))
        self.image = PIL.Image.new("RGB", size, (255, 255, 255))
        self.draw = PIL.ImageDraw.Draw(self.image)
        self.box = (MARGIN_LEFT, MARGIN_TOP, self.width - MARGIN_RIGHT, self.height - MARGIN_BOTTOM)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    def to_pixels(self, x, y):
        x0, y0, x1, y1 = self.box
        px = x0 + (np.asarray(x, np.float64) - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (x1 - x0)
        py = y1 - (np.asarray(y, np.float64) - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (y1 - y0)
        return px, py

    def frame(self):
        """Axes box, ticks with values, labels and title (drawn last, over the data)."""
        d, font = self.draw, _font(11)
        x0, y0, x1, y1 = self.box
        d.rectangle(self.box, outline=(0, 0, 0))
        for value in _ticks(*self.xlim):
            px, _ = self.to_pixels(value, self.ylim[0])
            d.line([(px, y1), (px, y1 + 4)], fill=(0, 0, 0))
            d.text((px, y1 + 6), _fmt(value), fill=(0, 0, 0), font=font, anchor="mt")
        for value in _ticks(*self.ylim):
            _, py = self.to_pixels(self.xlim[0], value)
            d.line([(x0 - 4, py), (x0, py)], fill=(0, 0, 0))
            d.text((x0 - 6, py), _fmt(value), fill=(0, 0, 0), font=font, anchor="rm")
        d.text(((x0 + x1) / 2, 6), self.title, fill=(0, 0, 0), font=_font(13), anchor="mt")
        d.text(((x0 + x1) / 2, self.height - 4), self.xlabel, fill=(0, 0, 0), font=font, anchor="mb")
        if self.ylabel:
            label = PIL.Image.new("RGB", (y1 - y0, 14), (255, 255, 255))
            PIL.ImageDraw.Draw(label).text(((y1 - y0) / 2, 0), self.ylabel, fill=(0, 0, 0), font=font, anchor="mt")
            self.image.paste(label.rotate(90, expand=True), (2, y0))

    def legend(self, entries):
        """[(label, color)] in the top-right corner of the plot area."""
        font = _font(11)
        x1, y = self.box[2] - 6, self.box[1] + 6
        for label, color in entries:
            self.draw.line([(x1 - 18, y + 6), (x1 - 4, y + 6)], fill=color, width=3)
            self.draw.text((x1 - 22, y), label, fill=(0, 0, 0), font=font, anchor="rt")
            y += 15


def scatter(points, path, lim, title="", color=COLORS[0], size=(520, 520), alpha=0.25):
    """points [N,2] as dots with opacity `alpha` (overlaps darken), limits +-lim on both axes."""
    ax = Axes(size, (-lim, lim), (-lim, lim), title, "t-SNE 1", "t-SNE 2")
    px, py = ax.to_pixels(points[:, 0], points[:, 1])
    x0, y0, x1, y1 = ax.box
    cover = np.zeros((ax.height, ax.width), np.float64)  # accumulated opacity per pixel
    keep = (px >= x0) & (px < x1) & (py >= y0) & (py < y1)
    for dx in (0, 1):
        for dy in (0, 1):
            np.add.at(cover, (np.clip(py[keep].astype(int) + dy, 0, ax.height - 1),
                              np.clip(px[keep].astype(int) + dx, 0, ax.width - 1)), 1.0)
    opacity = 1.0 - (1.0 - alpha) ** cover
    canvas = np.asarray(ax.image, np.float64)
    canvas = canvas * (1 - opacity[..., None]) + np.asarray(color, np.float64) * opacity[..., None]
    ax.image = PIL.Image.fromarray(canvas.round().astype(np.uint8))
    ax.draw = PIL.ImageDraw.Draw(ax.image)
    ax.frame()
    save_png(ax.image, path)
    return ax.image


def density_map(points, path, lim, title="", bins=120, size=(520, 520), smooth=1.5):
    """A 2-D histogram of points [N,2] on +-lim, Gaussian-smoothed (sigma `smooth` bins), shown as white -> dark
    blue (a kernel density estimate's picture, the original's seaborn kdeplot)."""
    hist, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=bins, range=[[-lim, lim], [-lim, lim]])
    hist = _gaussian_blur(hist, smooth)
    hist = hist / max(hist.max(), 1e-12)
    ax = Axes(size, (-lim, lim), (-lim, lim), title, "t-SNE 1", "t-SNE 2")
    x0, y0, x1, y1 = ax.box
    shade = np.asarray(COLORS[0], np.float64)
    rgb = 255.0 - hist.T[::-1, :, None] * (255.0 - shade * 0.6)  # row 0 = top = largest y
    tile = PIL.Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((x1 - x0, y1 - y0), PIL.Image.BILINEAR)
    ax.image.paste(tile, (x0, y0))
    ax.frame()
    save_png(ax.image, path)
    return ax.image


def lines(x, curves, path, xlim, ylim, title="", xlabel="", ylabel="", size=(560, 360)):
    """curves: [(label, y values [len(x)], color)] as polylines, with a legend."""
    ax = Axes(size, xlim, ylim, title, xlabel, ylabel)
    ax.draw.rectangle(ax.box, fill=(255, 255, 255))
    for label, y, color in curves:
        px, py = ax.to_pixels(x, np.clip(y, ylim[0], ylim[1]))
        ax.draw.line(list(zip(px.tolist(), py.tolist())), fill=color, width=2)
    ax.frame()
    ax.legend([(label, color) for label, _, color in curves])
    if path:
        save_png(ax.image, path)
    return ax.image


def tile(images, cols, path=None):
    """PIL images of one size in a grid (row-major); saved when `path` is given."""
    w, h = images[0].size
    rows = int(np.ceil(len(images) / cols))
    out = PIL.Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for i, img in enumerate(images):
        out.paste(img, ((i % cols) * w, (i // cols) * h))
    if path:
        save_png(out, path)
    return out


def _gaussian_blur(array, sigma):
    if sigma <= 0:
        return array
    radius = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, array)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, out)


def save_png(image, path):
    tmp = f"{path}.tmp-{os.getpid()}.png"
    image.save(tmp)
    os.replace(tmp, path)


def write_csv(path, header, rows):
    """Rows of numbers as CSV (the original's '#x,y' / 'x,y' files), atomically."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(header + "\n")
        for row in rows:
            f.write(",".join(f"{v:.6g}" for v in row) + "\n")
    os.replace(tmp, path)
