"""`python visualize_clusters.py --network <selfcond snapshot or run dir>`: what each cluster is (the original's
visualize_clusters.py and seeing/lightbox.html, reference section 5).

For every cluster i it writes
    {i}_gen.png   generated samples of cluster i from seeds 0..N-1 (the same latents for every cluster, so clusters
                  compare column by column; no truncation, the network's stored noise), a grid --cols wide;
    {i}_real.png  the first N real members of cluster i among the first --real-images records of the dataset,
                  labelled as training labels them (the snapshot's frozen D, nearest centroid, mapping);
and one static index.html: thumbnails labelled by file name with the list of files embedded in the page (the
original scraped an Apache directory index and loaded Vue, jQuery and lity from CDNs), a regular-expression filter
box (`^12_` shows cluster 12, `_real` the real members; `index.html#^12_` opens it filtered), and a click-to-enlarge
lightbox. It opens from disk, with no server and no network.

Differences from the original: the real grid of a cluster with fewer than N members shows those it has (the original
skips it); members come from the dataset's first records in stored order (mirrored with --mirror-augment), not from a
shuffled loader.
"""

import html
import json
import os

import numpy as np

from selfcond.cluster_metrics import label_images, snapshot_clusters
from selfcond.features import to_uint8_images
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser, finite_float, str2bool
from stylegan2.images import make_grid, save_image

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: sans-serif; margin: 12px; }}
  h3 {{ font-size: 18px; margin: 0 0 8px 0; }}
  .filter {{ font-size: 13px; padding-bottom: 10px; }}
  .filter input {{ width: 16em; }}
  .thumb {{ display: inline-block; margin: 2px; text-align: center; font-size: 12px; vertical-align: top; }}
  .thumb img {{ width: 150px; image-rendering: pixelated; cursor: zoom-in; }}
  .thumb div {{ max-width: 150px; word-break: break-all; }}
  #lightbox {{ display: none; position: fixed; inset: 0; background: rgba(0, 0, 0, 0.85); align-items: center;
              justify-content: center; flex-direction: column; color: white; cursor: zoom-out; }}
  #lightbox.open {{ display: flex; }}
  #lightbox img {{ max-width: 90vw; max-height: 85vh; min-width: 40vw; object-fit: contain;
                  image-rendering: pixelated; }}
</style>
</head>
<body>
<h3>{title}</h3>
<div class="filter">Filter: <input id="filter" placeholder="regexp, e.g. ^12_ or _real" autofocus>
  <span id="count"></span></div>
<div id="thumbs"></div>
<div id="lightbox"><img id="lightbox-image" alt=""><div id="lightbox-caption"></div></div>
<script>
var IMAGES = {images};
var thumbs = document.getElementById("thumbs");
var filter = document.getElementById("filter");
var count = document.getElementById("count");
var lightbox = document.getElementById("lightbox");
IMAGES.forEach(function (entry) {{
  var box = document.createElement("div");
  box.className = "thumb";
  box.dataset.file = entry.file;
  var caption = document.createElement("div");
  caption.textContent = entry.file;
  caption.title = entry.caption;
  var img = document.createElement("img");
  img.src = encodeURIComponent(entry.file);
  img.alt = entry.caption;
  img.addEventListener("click", function () {{
    document.getElementById("lightbox-image").src = img.src;
    document.getElementById("lightbox-caption").textContent = entry.file + ": " + entry.caption;
    lightbox.className = "open";
  }});
  box.appendChild(caption);
  box.appendChild(img);
  thumbs.appendChild(box);
}});
lightbox.addEventListener("click", function () {{ lightbox.className = ""; }});
function pattern(text) {{
  try {{ return new RegExp(text); }} catch (e) {{ return /(?:)/; }}  // an unfinished regexp shows everything
}}
function apply() {{
  var re = pattern(filter.value), shown = 0;
  Array.prototype.forEach.call(thumbs.children, function (box) {{
    var match = re.test(box.dataset.file);
    box.style.display = match ? "" : "none";
    shown += match ? 1 : 0;
  }});
  count.textContent = shown + " of " + IMAGES.length + " images";
}}
function fromAddress() {{  // index.html#^12_ opens the page filtered
  filter.value = decodeURIComponent(window.location.hash.slice(1));
  apply();
}}
filter.addEventListener("input", apply);
window.addEventListener("hashchange", fromAddress);
fromAddress();
</script>
</body>
</html>
"""


def write_gallery(outdir, entries, title):
    """index.html in `outdir` listing `entries` ({"file": name in outdir, "caption": text}, in display order)."""
    images = json.dumps([{"file": e["file"], "caption": e.get("caption", "")} for e in entries])
    page = PAGE.format(title=html.escape(title), images=images.replace("</", "<\\/"))
    path = os.path.join(outdir, "index.html")
    tmp = f"{path}.tmp-{os.getpid()}.html"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)
    return path


def generated_grids(G, sampling, clusters, num_images, cols, truncation_psi=1.0, minibatch_size=50):
    """{cluster: uint8 grid} of G's images of each cluster from seeds 0..num_images-1 (the same z for every cluster;
    the z of seed s is RandomState(s).randn, as run_generator.py's --seeds)."""
    from stylegan2.generate import map_latents, seed_inputs, synthesize

    z, _ = seed_inputs(G, range(num_images), noise_mode="const")
    grids = {}
    for i in clusters:
        c = sampling.one_hot([i] * num_images)
        ws = map_latents(G, z, c, truncation_psi, None, minibatch_size, sampling)
        grids[i] = make_grid(synthesize(G, ws, None, "const", minibatch_size), cols)
    return grids


def real_members(snapshot, dataset, num_images, max_records, mirror=False, metric="--show-clusters"):
    """{cluster: uint8 images [<= num_images, H, W, C]}: the first members of each cluster among the dataset's first
    `max_records` records, and the number of members of each cluster there."""
    arrays, D = snapshot_clusters(snapshot, metric)
    images, labels, done = [], [], 0
    for batch, _, _ in dataset.iterate_numpy(batch_size=256, mirror=mirror):
        batch = batch[:max_records - done]
        labels.append(label_images(D, arrays["centroids"], arrays["mapping"], [batch]))
        images.append(to_uint8_images(batch))
        done += len(batch)
        if done >= max_records:
            break
    images, labels = np.concatenate(images), np.concatenate(labels)
    k = len(arrays["mapping"])
    members = {i: images[labels == i][:num_images] for i in range(k)}
    return members, np.bincount(labels, minlength=k)


def visualize_clusters(network, outdir, *, dataset=None, show_clusters=True, num_images=20, cols=4,
                       real_images=10000, truncation_psi=1.0, mirror=False, clusters=None, verbose=True):
    """Writes {i}_gen.png (and {i}_real.png) for every cluster, and index.html, into `outdir`; returns the page."""
    from stylegan2.dataset import ImageDataset
    from stylegan2.training.snapshot import open_for_sampling

    if num_images < 1 or cols < 1 or real_images < 1:
        raise UserError(f"--num-images {num_images}, --cols {cols}, --real-images {real_images}: must be positive")
    snap, G, sampling = open_for_sampling(network)
    if snap.metadata.get("method") != "selfcond":
        raise UserError(f"--network {network}: a --method {snap.metadata.get('method') or 'stylegan2'} snapshot; "
                        f"visualize_clusters.py shows the clusters of --method selfcond snapshots")
    k = G.c_dim
    clusters = list(range(k)) if clusters is None else clusters
    bad = [i for i in clusters if not 0 <= i < k]
    if bad:
        raise UserError(f"--clusters: {bad[0]} is out of range; this network has {k} clusters (0..{k - 1})")
    probs = sampling.probs if sampling.probs is not None else np.full(k, 1.0 / k)
    members, counts = None, None
    if show_clusters:
        source = dataset or snap.metadata.get("dataset")
        if not source:
            raise UserError("--show-clusters: name the dataset with --data-dir and --dataset")
        members, counts = real_members(snap, ImageDataset(source), num_images, real_images, mirror)
    os.makedirs(outdir, exist_ok=True)
    entries = []
    for i, grid in generated_grids(G, sampling, clusters, num_images, cols, truncation_psi).items():
        save_image(grid, os.path.join(outdir, f"{i}_gen.png"))
        entries.append({"file": f"{i}_gen.png", "caption": f"cluster {i}: generated, seeds 0-{num_images - 1}; "
                                                           f"p(c) = {probs[i]:.4f}"})
        if members is not None and len(members[i]):
            save_image(make_grid(members[i], cols), os.path.join(outdir, f"{i}_real.png"))
            entries.append({"file": f"{i}_real.png", "caption": f"cluster {i}: {len(members[i])} of its {counts[i]} "
                                                                f"members among the first {real_images} reals"})
        if verbose:
            print(f"cluster {i}: {i}_gen.png" + (f", {i}_real.png ({counts[i]} members)" if counts is not None
                                                 else ""), flush=True)
    kimg = snap.metadata.get("kimg")
    title = f"Clusters of {os.path.basename(os.path.normpath(network))}" + (f" (kimg {kimg:g})" if kimg else "")
    return write_gallery(outdir, entries, title)


def build_parser():
    parser = OneLineParser(prog="visualize_clusters.py", description=__doc__.split("\n\n")[0],
                           epilog="Example: python visualize_clusters.py --network=results/00000-selfcond-... "
                                  "(then open <result-dir>/<NNNNN>-visualize-clusters/index.html)")
    parser.add_argument("--network", required=True, help="A --method selfcond snapshot (.keras) or run directory "
                                                          "(its latest snapshot)")
    parser.add_argument("--data-dir", default="datasets", help="Dataset root directory (default: datasets)")
    parser.add_argument("--dataset", default=None, help="Dataset of the real members (default: the one the snapshot "
                                                        "was trained on)")
    parser.add_argument("--show-clusters", type=str2bool, default=True, metavar="BOOL",
                        help="Also the real members of each cluster, {i}_real.png (default: true)")
    parser.add_argument("--num-images", type=int, default=20, help="Images per grid (default: 20)")
    parser.add_argument("--cols", type=int, default=4, help="Images per grid row (default: 4, the original's nrow)")
    parser.add_argument("--real-images", type=int, default=10000,
                        help="Records of the dataset searched for members (default: 10000)")
    parser.add_argument("--clusters", default=None, help="Only these clusters, e.g. 0-9,12 (default: all)")
    parser.add_argument("--truncation-psi", type=finite_float, default=1.0, help="Truncation psi (default: 1, none)")
    parser.add_argument("--mirror-augment", type=str2bool, default=False, metavar="BOOL",
                        help="Mirror the reals (default: false)")
    parser.add_argument("--result-dir", default="results", help="Root directory; output goes to a new "
                                                                "<DIR>/<NNNNN>-visualize-clusters/ (default: results)")
    return parser


@exit_on_user_error
def main(argv=None):
    import sys

    from stylegan2.generate import parse_range
    from stylegan2.rundir import create_run_dir

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.exists(args.network):
        raise UserError(f"--network {args.network}: no such snapshot file or run directory")
    dataset = args.dataset and (args.dataset if os.path.isabs(args.dataset) else
                                os.path.join(args.data_dir, args.dataset))
    clusters = None if args.clusters is None else parse_range(args.clusters, "--clusters")
    outdir = create_run_dir(args.result_dir, "visualize-clusters")
    try:
        page = visualize_clusters(args.network, outdir, dataset=dataset, show_clusters=args.show_clusters,
                                  num_images=args.num_images, cols=args.cols, real_images=args.real_images,
                                  truncation_psi=args.truncation_psi, mirror=args.mirror_augment, clusters=clusters)
    except UserError:
        import shutil

        shutil.rmtree(outdir, ignore_errors=True)  # nothing half-made is left behind
        raise
    print(f"Clusters can be browsed in {page}")
    return page
