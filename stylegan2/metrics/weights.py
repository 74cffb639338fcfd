"""Locating pretrained weight files for the feature networks (Inception, VGG16, LPIPS).

`resolve_weights(name, path)` looks, in order, at
  1. `path` (a file, or a directory holding the file),
  2. `$STYLEGAN2_WEIGHTS_DIR/<file>`,
  3. the cache `$STYLEGAN2_CACHE_DIR/<file>` (default `~/.cache/stylegan2-family/<file>`),
  4. one download from the file's known URL into the cache (checksum-verified, written to a temporary name and
     renamed; skipped when `STYLEGAN2_OFFLINE=1`),
and otherwise raises one UserError saying which file to put where and where to get it.

Known files:
  inception    classify_image_graph_def.pb, the 2015-12-05 Inception graph of TTUR/NVIDIA FIDs; the .pb itself or
               inception-2015-12-05.tgz (extracted on use). Google published no checksum for the tarball, so a
               download is accepted when it parses as that graph (checked by feature_nets.InceptionGraph).
  keras-inception-v3   inception_v3_weights_tf_dim_ordering_tf_kernels.h5 (keras.applications, md5-checked).
  vgg16        vgg16_weights_tf_dim_ordering_tf_kernels.h5 (keras.applications, md5-checked).
  lpips        lpips_vgg16_v0.1.npz, made by `python -m stylegan2.metrics.convert_lpips` from
               richzhang/PerceptualSimilarity's weights/v0.1/vgg.pth and torchvision's vgg16-397923af.pth.
"""

import dataclasses
import hashlib
import os
import tarfile
import tempfile
import urllib.request

from stylegan2.errors import UserError

DOWNLOAD_TIMEOUT = 20.0


@dataclasses.dataclass(frozen=True)
class WeightFile:
    filename: str
    url: str = None
    md5: str = None
    archive_member: str = None  # the url is a .tgz holding `filename`
    how: str = ""


INCEPTION_TGZ = "inception-2015-12-05.tgz"
KNOWN_WEIGHTS = {
    "inception": WeightFile(
        "classify_image_graph_def.pb",
        url="http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",
        archive_member="classify_image_graph_def.pb"),
    "keras-inception-v3": WeightFile(
        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        url="https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        md5="9a0d58056eeedaa3f26cb7ebd46da564"),
    "vgg16": WeightFile(
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        url="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        md5="64373286793e3c8b2b4e3219cbf3544b"),
    "lpips": WeightFile(
        "lpips_vgg16_v0.1.npz",
        how="make it with `python -m stylegan2.metrics.convert_lpips vgg.pth vgg16-397923af.pth "
            "lpips_vgg16_v0.1.npz` from https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/"
            "v0.1/vgg.pth and https://download.pytorch.org/models/vgg16-397923af.pth"),
}


def cache_dir():
    return os.environ.get("STYLEGAN2_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                 "stylegan2-family")


def _spec(name):
    if name not in KNOWN_WEIGHTS:
        raise UserError(f"unknown weights {name!r}; known: {', '.join(sorted(KNOWN_WEIGHTS))}")
    return KNOWN_WEIGHTS[name]


def _candidates(spec, directory):
    names = [spec.filename] + ([INCEPTION_TGZ] if spec.archive_member else [])
    return [os.path.join(directory, n) for n in names]


def _usable(spec, path):
    """The weight file at `path`, extracting it next to the archive when `path` is the .tgz."""
    if spec.archive_member and path.endswith((".tgz", ".tar.gz")):
        target = os.path.join(os.path.dirname(path) or ".", spec.filename)
        if not os.path.isfile(target):
            _extract_member(path, spec.archive_member, target)
        return target
    return path


def _extract_member(archive, member, target):
    try:
        with tarfile.open(archive, "r:gz") as tar:
            found = [m for m in tar.getmembers() if os.path.basename(m.name) == member and m.isfile()]
            if not found:
                raise UserError(f"{archive}: has no {member}; download {INCEPTION_TGZ} again")
            with tar.extractfile(found[0]) as src:
                _atomic_write(target, src.read())
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"{archive}: cannot extract {member} ({err}); download it again") from None


def _atomic_write(target, data):
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=os.path.basename(target) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _download(url, timeout=DOWNLOAD_TIMEOUT):
    """The bytes at `url` (one attempt, short timeout); raises OSError on any network failure."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _fetch_into_cache(spec, directory):
    """One download attempt; returns the cached path, or None when the network is unavailable."""
    if not spec.url or os.environ.get("STYLEGAN2_OFFLINE", "") not in ("", "0"):
        return None
    try:
        data = _download(spec.url)
    except Exception:  # noqa: BLE001 - any network failure means "not available"; the caller explains what to do
        return None
    if spec.md5 and hashlib.md5(data).hexdigest() != spec.md5:
        raise UserError(f"{spec.url}: downloaded file has md5 {hashlib.md5(data).hexdigest()}, expected {spec.md5}; "
                        f"download it by hand into {directory}")
    target = os.path.join(directory, INCEPTION_TGZ if spec.archive_member else spec.filename)
    _atomic_write(target, data)
    return _usable(spec, target)


def missing_message(name, path=None):
    spec = _spec(name)
    where = path if path and not os.path.isdir(path) else os.path.join(path or cache_dir(), spec.filename)
    source = spec.how or f"download it from {spec.url}" + (" and extract it (or put the .tgz there)"
                                                            if spec.archive_member else "")
    return (f"{where}: {name} weights not found and not downloadable; put {spec.filename} there "
            f"(or in $STYLEGAN2_WEIGHTS_DIR) — {source}")


def resolve_weights(name, path=None):
    """Path of the weight file `name` (a key of KNOWN_WEIGHTS); see the module docstring for the search order."""
    spec = _spec(name)
    if path:
        if os.path.isfile(path):
            return _usable(spec, path)
        if not os.path.isdir(path):
            raise UserError(f"{path}: {name} weights file not found; pass the path of {spec.filename} "
                            f"({spec.how or 'from ' + spec.url})")
    dirs = [path] if path else []
    if os.environ.get("STYLEGAN2_WEIGHTS_DIR"):
        dirs.append(os.environ["STYLEGAN2_WEIGHTS_DIR"])
    dirs.append(cache_dir())
    for directory in dirs:
        for candidate in _candidates(spec, directory):
            if os.path.isfile(candidate):
                return _usable(spec, candidate)
    fetched = _fetch_into_cache(spec, cache_dir())
    if fetched:
        return fetched
    raise UserError(missing_message(name, path))
