"""Loss history per depth (g_lis/main.py's `history`), its plot (`loss.jpg`) and `export_history` (history.csv).

The original adds one value per iteration to three groups: loss-r-mix (train-r<i>: the similarity term of module
i + 1, clipped to [0, 1]), loss-g-mix (train-g<k>: G's adversarial loss at depth k) and loss-d-mix (train-d-real,
train-d-fake<k>: D's loss on the reals and on fakes of depth k), a depth's line only at iterations that drew it.
Here a row is written per tick (the loop's tick averages over its iterations; a depth not drawn in a tick, which the
loop shows as 0, is absent from that row) to <run>/loss-history.jsonl; R-iterative's lines are the chain steps (g<k>, d-fake<k>, r<k-1> =
R's MSE at step k). A resumed run drops the rows after its checkpoint, so the file continues exactly.

    python -m lis.export_history RUN_DIR [--out history.csv] [--start 0] [--end -1] [--subsample 1] [--kernel-size 101]

writes the original's history.csv: one row per x (iteration) where any line has a value, a line's missing values
filled with its last one (0 before its first), each column smoothed with a box filter of `kernel_size`
(np.convolve(..., mode='same'), zero-padded at the ends as in the original), rows start <= i < end with
i % subsample == 0; header `__index,<group>_<line>,...`, values with 4 decimals.
"""

import argparse
import json
import os
import sys

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser

from lis import plotting

HISTORY_FILE = "loss-history.jsonl"
PLOT_FILE = "loss.png"
GROUPS = ("loss-r-mix", "loss-g-mix", "loss-d-mix")


def lines_of_stats(stats, mode, n):
    """{'<group>_<line>': value} of one tick's stats (lis.method's stat names)."""
    out = {}
    if "Loss/D/real" in stats:
        out["loss-d-mix_train-d-real"] = stats["Loss/D/real"]
    for k in range(n + 1):
        if mode == "g_lis":
            names = {f"Loss/D/fake_depth{k}": f"loss-d-mix_train-d-fake{k}", f"Loss/G/depth{k}": f"loss-g-mix_train-g{k}",
                     f"Loss/lis/r{k}": f"loss-r-mix_train-r{k}"}
        else:
            names = {f"Loss/D/fake_step{k}": f"loss-d-mix_train-d-fake{k}", f"Loss/G/step{k}": f"loss-g-mix_train-g{k}",
                     f"Loss/R/mse{k}": f"loss-r-mix_train-r{k - 1}"}
        for stat, line in names.items():
            # The loop shows a stat without samples in the tick (a depth not drawn) as exactly 0; every one of these
            # losses is positive otherwise (softplus, lambda^i x MSE), so 0 means "no value this tick".
            if stats.get(stat, 0.0) != 0.0:
                out[line] = float(stats[stat])
    for line in out:
        if line.startswith("loss-r-mix"):
            out[line] = float(np.clip(out[line], 0.0, 1.0))  # the original clips the r lines
    return out


def read_rows(path):
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_rows(path, rows):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


def truncate_after(path, step):
    """Drops the rows written after iteration `step` (a resumed run repeats those iterations)."""
    rows = read_rows(path)
    kept = [row for row in rows if row["step"] <= step]
    if len(kept) != len(rows):
        write_rows(path, kept)


def append_row(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def table(rows):
    """(x [T], line names, values [T, L]): a line's missing values filled with its last value (0 before the first)."""
    names = sorted({k for row in rows for k in row if "_" in k and k.split("_", 1)[0] in GROUPS},
                   key=lambda k: (GROUPS.index(k.split("_", 1)[0]), k))
    x = np.array([row["step"] for row in rows], np.int64)
    values = np.zeros([len(rows), len(names)])
    last = np.zeros(len(names))
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            if name in row:
                last[j] = row[name]
        values[i] = last
    return x, names, values


def box_smooth(values, kernel_size):
    """Each column convolved with a box of `kernel_size` (np.convolve mode 'same', as the original)."""
    if kernel_size <= 1:
        return values
    kernel = np.ones(kernel_size) / kernel_size
    return np.stack([np.convolve(values[:, j], kernel, mode="same") for j in range(values.shape[1])], axis=1) \
        if values.shape[1] else values


def export_csv(rows, path, start=0, end=-1, subsample=1, kernel_size=101):
    x, names, values = table(rows)
    values = box_smooth(values, kernel_size)
    end = len(values) if end == -1 else end
    lines = ["__index" + "".join("," + name for name in names)]
    for i in range(len(values)):
        if start <= i < end and i % subsample == 0:
            lines.append(f"{x[i]:d}" + "".join(f",{v:.4f}" for v in values[i]))
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)
    return names, len(lines) - 1


def plot(rows, path):
    """loss.png: one panel per group (r, g, d), a curve per line, against the iteration."""
    x, names, values = table(rows)
    if len(x) < 2:
        return None
    panels = []
    for group in GROUPS:
        cols = [j for j, name in enumerate(names) if name.startswith(group + "_")]
        if not cols:
            continue
        ys = values[:, cols]
        lo, hi = float(ys.min()), float(ys.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        curves = [(names[j].split("_", 1)[1], values[:, j], plotting.COLORS[c % len(plotting.COLORS)])
                  for c, j in enumerate(cols)]
        panels.append(plotting.lines(x.astype(np.float64), curves, None, (float(x[0]), float(x[-1])), (lo, hi),
                                     title=group, xlabel="iteration"))
    return plotting.tile(panels, 1, path)


def build_parser():
    parser = OneLineParser(prog="python -m lis.export_history", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", help=f"A --method lis run directory (holding {HISTORY_FILE})")
    parser.add_argument("--out", default=None, help="Output CSV (default: <run_dir>/history.csv)")
    parser.add_argument("--start", type=int, default=0, help="First row (inclusive)")
    parser.add_argument("--end", type=int, default=-1, help="Last row (exclusive); -1: all")
    parser.add_argument("--subsample", type=int, default=1, help="Every n-th row")
    parser.add_argument("--kernel-size", type=int, default=101, help="Box filter width (1: no smoothing)")
    return parser


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    path = os.path.join(args.run_dir, HISTORY_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{args.run_dir}: no {HISTORY_FILE}; pass the run directory of a --method lis run")
    if args.subsample < 1 or args.kernel_size < 1:
        raise UserError(f"--subsample {args.subsample} --kernel-size {args.kernel_size}: both must be 1 or more")
    out = args.out or os.path.join(args.run_dir, "history.csv")
    names, count = export_csv(read_rows(path), out, args.start, args.end, args.subsample, args.kernel_size)
    print(f"{out}: {count} rows of {len(names)} lines")
    return out


if __name__ == "__main__":
    main()
