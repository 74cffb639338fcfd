"""`python run_metrics.py prd --reference_dir=reals --eval_dirs=a b --eval_labels=A B`: precision and recall for
distributions (Sajjadi et al. 2018) between folders of images, as InclusiveGAN's
precision-recall-distributions/prd_from_image_folders.py computes them (and its README runs it).

Each folder's images are embedded by the metrics' Inception network (`pool_3`, 2048-d; `--inception` as for
run_metrics.py), the PRD curve of each evaluated folder against the reference comes from
`stylegan2.metrics.arithmetic.prd_curve` (20 clusters, 1001 angles, 10 runs), and the results are InclusiveGAN's
table of F_1/8 (precision) and F_8 (recall), printed and written to `<result-dir>/<NNNNN>-prd/prd.txt` with
`prd.json` (the curves) and `prd.png` (the curves' plot with a legend; the original's `prd.plot`, which IG's copy
had commented out). Embeddings are cached by the folder's content (IG's cache was keyed by the folder name alone,
so it went stale when the images changed).
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import PIL.Image

from stylegan2.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # IG: png, jpg, bmp, gif


# === Image folders and embeddings ===


def list_images(directory, flag):
    """The image files of a folder (not its subfolders), sorted; UserError naming `flag` when there are none."""
    if not os.path.isdir(directory):
        raise UserError(f"{flag} {directory}: not a directory")
    paths = sorted(os.path.join(directory, name) for name in os.listdir(directory)
                   if name.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(directory, name)))
    if not paths:
        raise UserError(f"{flag} {directory}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return paths


def image_batches(paths, batch_size, flag):
    """uint8 RGB batches [N,H,W,3]; a batch ends early where the image size changes (IG needs equal sizes)."""
    batch = []
    for path in paths:
        try:
            with PIL.Image.open(path) as img:
                array = np.asarray(img.convert("RGB"))  # grey and RGBA become RGB, as cv2.IMREAD_COLOR reads them
        except (OSError, ValueError) as err:
            raise UserError(f"{flag}: {path} is not a readable image ({err})") from None
        if batch and (array.shape != batch[0].shape or len(batch) == batch_size):
            yield np.stack(batch)
            batch = []
        batch.append(array)
    if batch:
        yield np.stack(batch)


def folder_key(paths, network_name):
    """md5 of the feature network and every file's name, size and modification time."""
    digest = hashlib.md5(network_name.encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def embed_folder(directory, network, network_name, flag, batch_size=64, cache_dir=None, log=print):
    """[num_images, D] float32 features (`pool` output) of a folder's images, from the cache when it is current."""
    paths = list_images(directory, flag)
    cache = cache_dir and os.path.join(cache_dir, f"prd-{folder_key(paths, network_name)}.npy")
    if cache and os.path.isfile(cache):
        return np.load(cache, allow_pickle=False)
    log(f"computing inception embeddings for {directory} ({len(paths)} images)")
    parts = []
    for images in image_batches(paths, batch_size, flag):
        out = network(images)
        parts.append(np.asarray(out["pool"] if isinstance(out, dict) else out, np.float32).reshape(len(images), -1))
    features = np.concatenate(parts)
    if cache:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{cache}.tmp-{os.getpid()}.npy"
        np.save(tmp, features)
        os.replace(tmp, cache)
    return features


# === The plot ===

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))  # matplotlib's tab10, as prd.plot used


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def plot_prd(curves, labels, path, size=700):
    """The PRD curves (precision over recall, both in [0,1]) as a PNG: axes with ticks every 0.2, grid, one
    half-transparent 3-px line per curve (prd_score.plot: alpha 0.5, linewidth 3), legend at the lower left.
    curves: [(precision, recall)] arrays; written atomically."""
    from PIL import ImageDraw

    scale = size / 700
    left, right, top, bottom = int(95 * scale), int(25 * scale), int(25 * scale), int(85 * scale)
    font, small = _font(int(26 * scale)), _font(int(20 * scale))
    image = PIL.Image.new("RGBA", (size, size), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    x0, x1, y0, y1 = left, size - right, top, size - bottom

    def to_px(recall, precision):
        return x0 + recall * (x1 - x0), y1 - precision * (y1 - y0)

    for i in range(6):  # grid and ticks at 0, 0.2, ..., 1
        v = i / 5
        x, y = to_px(v, v)
        draw.line([(x, y0), (x, y1)], fill=(225, 225, 225), width=1)
        draw.line([(x0, y), (x1, y)], fill=(225, 225, 225), width=1)
        draw.line([(x, y1), (x, y1 + 6 * scale)], fill="black", width=2)
        draw.line([(x0 - 6 * scale, y), (x0, y)], fill="black", width=2)
        draw.text((x, y1 + 10 * scale), f"{v:.1f}", fill="black", font=small, anchor="mt")
        draw.text((x0 - 10 * scale, y), f"{v:.1f}", fill="black", font=small, anchor="rm")
    for (precision, recall), color in zip(curves, PALETTE * (len(curves) // len(PALETTE) + 1)):
        layer = PIL.Image.new("RGBA", image.size, (0, 0, 0, 0))
        points = [to_px(r, p) for p, r in zip(np.asarray(precision), np.asarray(recall))]
        ImageDraw.Draw(layer).line(points, fill=color + (128,), width=max(2, int(4 * scale)), joint="curve")
        image = PIL.Image.alpha_composite(image, layer)
    draw = ImageDraw.Draw(image)
    draw.rectangle([x0, y0, x1, y1], outline="black", width=2)
    draw.text(((x0 + x1) / 2, size - 12 * scale), "Recall", fill="black", font=font, anchor="mb")
    label = PIL.Image.new("RGBA", (int(200 * scale), int(40 * scale)), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((label.width / 2, label.height / 2), "Precision", fill="black", font=font, anchor="mm")
    label = label.rotate(90, expand=True)
    image.alpha_composite(label, (int(4 * scale), int((y0 + y1) / 2 - label.height / 2)))

    # Legend, lower left (prd_score.plot: legend_loc='lower left').
    row, pad, sample = int(30 * scale), int(10 * scale), int(40 * scale)
    width = pad * 3 + sample + max(int(draw.textlength(text, font=small)) for text in labels)
    box = [x0 + pad, y1 - pad - row * len(labels) - pad, x0 + pad + width, y1 - pad]
    draw.rectangle(box, fill=(255, 255, 255), outline=(170, 170, 170), width=1)
    for i, (text, color) in enumerate(zip(labels, PALETTE * (len(labels) // len(PALETTE) + 1))):
        y = box[1] + pad + row * i + row / 2
        draw.line([(box[0] + pad, y), (box[0] + pad + sample, y)], fill=tuple(int(255 - (255 - c) * 0.5)
                                                                         for c in color), width=max(2, int(4 * scale)))
        draw.text((box[0] + 2 * pad + sample, y), text, fill="black", font=small, anchor="lm")
    tmp = f"{path}.tmp-{os.getpid()}.png"
    image.convert("RGB").save(tmp)
    os.replace(tmp, path)


# === Command ===


def table(rows):
    """InclusiveGAN's printout: F_1/8 (precision), F_8 (recall), model."""
    lines = ["F_1/8 (precision)     F_8 (recall)   model"]
    lines += [f"{f_precision:.4f}                {f_recall:.4f}         {model}"
              for f_precision, f_recall, model in rows]
    return lines


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (UserError), not usage + message."""

    def error(self, message):
        raise UserError(f"{self.prog}: {message} (see {self.prog} -h)")


def build_parser(prog="run_metrics.py prd"):
    p = _Parser(
        prog=prog, description="Assessing Generative Models via Precision and Recall (Sajjadi et al. 2018) between "
                               "image folders: InclusiveGAN's prd_from_image_folders.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example: python run_metrics.py prd --reference_dir=celeba_align_png_cropped_30k "
               "--eval_dirs=generation/00000-generate-images generation/00001-generate-images "
               "--eval_labels=StyleGAN2 'Inclusive GAN'")
    p.add_argument("--reference_dir", required=True, help="Directory containing reference images")
    p.add_argument("--eval_dirs", nargs="+", required=True, help="Directory or directories containing images to "
                                                                  "be evaluated")
    p.add_argument("--eval_labels", nargs="+", required=True, help="Labels for the eval_dirs (must have same size)")
    p.add_argument("--num_clusters", type=int, default=20, help="Number of cluster centers to fit")
    p.add_argument("--num_angles", type=int, default=1001, help="Number of angles for which to compute PRD, in "
                                                                 "[3, 1e6]")
    p.add_argument("--num_runs", type=int, default=10, help="Number of independent runs over which to average "
                                                             "the PRD data")
    p.add_argument("--plot_path", default=None, help="Path for the plot (.png) (default: prd.png in the run "
                                                      "directory)")
    p.add_argument("--cache_dir", default=None, help="Cache directory of the embeddings (default: the metrics "
                                                      "cache, keyed by folder content)")
    p.add_argument("--inception_path", default=None, help="The Inception graph classify_image_graph_def.pb (or "
                                                           "inception-2015-12-05.tgz) (default: --weights-dir, "
                                                           "$STYLEGAN2_WEIGHTS_DIR, then the cache)")
    p.add_argument("--silent", dest="verbose", action="store_false", help="Disable logging output")
    p.add_argument("--inception", default="inception", choices=["inception", "keras-inception-v3"],
                   help="Embedding network: the 2015-12-05 Inception graph (IG's inception.pb, pool_3) or Keras' "
                        "InceptionV3 (results labelled as not comparable)")
    p.add_argument("--weights-dir", default=None, help="Folder with feature-network weight files")
    p.add_argument("--batch", type=int, default=64, help="Images per embedding batch")
    p.add_argument("--seed", type=int, default=0, help="Seed of the clusterings (the original is unseeded)")
    p.add_argument("--result-dir", default="results", help="Root directory for the prd run directory")
    return p


def run_prd(argv):
    """The `prd` sub-command; returns (run directory, [{label, eval_dir, F_8, F_1/8, ...}])."""
    args = build_parser().parse_args(argv)
    if len(args.eval_dirs) != len(args.eval_labels):
        raise UserError(f"--eval_labels: {len(args.eval_labels)} labels for {len(args.eval_dirs)} --eval_dirs; give "
                        f"one label per directory")
    if not 3 <= args.num_angles <= 1e6 or args.num_clusters < 1 or args.num_runs < 1 or args.batch < 1:
        raise UserError("--num_angles must be in [3, 1e6]; --num_clusters, --num_runs and --batch at least 1")
    if args.plot_path and not args.plot_path.lower().endswith(".png"):
        raise UserError(f"--plot_path {args.plot_path}: the plot is written as PNG; name it *.png")
    if args.plot_path and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot_path))):
        raise UserError(f"--plot_path {args.plot_path}: its folder does not exist")
    reference_dir = os.path.abspath(args.reference_dir)
    eval_dirs = [os.path.abspath(d) for d in args.eval_dirs]
    list_images(reference_dir, "--reference_dir")  # every folder is checked before any work
    for d in eval_dirs:
        list_images(d, "--eval_dirs")
    log = print if args.verbose else (lambda *a, **k: None)

    from stylegan2.metrics import arithmetic, feature_nets
    from stylegan2.metrics import weights as weight_files
    from stylegan2.rundir import create_run_dir

    network = feature_nets.load_feature_network(args.inception, args.inception_path or args.weights_dir)
    name = getattr(network, "name", args.inception)
    comparable = bool(getattr(network, "comparable", False))
    cache_dir = args.cache_dir or os.path.join(weight_files.cache_dir(), "prd")

    def embed(directory, flag):
        return embed_folder(directory, network, f"{name}|{getattr(network, 'source', '')}", flag, args.batch,
                            cache_dir, log)

    reference = embed(reference_dir, "--reference_dir")
    results = []
    for directory, label in zip(eval_dirs, args.eval_labels):
        features = embed(directory, "--eval_dirs")
        log(f"computing PRD for {label}")
        precision, recall = arithmetic.prd_curve(reference, features, num_clusters=args.num_clusters,
                                                 num_angles=args.num_angles, num_runs=args.num_runs, seed=args.seed)
        f_recall, f_precision = arithmetic.max_f_beta_pair(precision, recall, beta=8)
        results.append({"label": label, "eval_dir": directory, "num_images": len(features), "F_8": f_recall,
                        "F_1/8": f_precision, "precision": precision.tolist(), "recall": recall.tolist()})

    run_dir = create_run_dir(args.result_dir, "prd")
    plot_path = args.plot_path or os.path.join(run_dir, "prd.png")
    plot_prd([(r["precision"], r["recall"]) for r in results], args.eval_labels, plot_path)
    lines = table([(r["F_1/8"], r["F_8"], f"{r['label']} ({r['eval_dir']})") for r in results])
    if not comparable:
        lines.append(f"[{name}: not comparable with published PRD numbers]")
    print()
    print("\n".join(lines))
    with open(os.path.join(run_dir, "prd.txt"), "w") as f:
        f.write(f"reference: {reference_dir} ({len(reference)} images); feature network: {name}\n")
        f.write("\n".join(lines) + "\n")
    record = {"reference_dir": reference_dir, "num_reference_images": len(reference), "feature_network": name,
              "comparable": comparable, "num_clusters": args.num_clusters, "num_angles": args.num_angles,
              "num_runs": args.num_runs, "seed": args.seed, "plot": os.path.abspath(plot_path), "results": results}
    with open(os.path.join(run_dir, "prd.json"), "w") as f:
        json.dump(record, f)
    log(f"Wrote {plot_path}, prd.txt and prd.json in {run_dir}")
    sys.stdout.flush()
    return run_dir, results
