"""Every bad input ends in one line naming the file and the fix, and leaves no output directory behind."""

import os
import signal
import subprocess
import sys
import time

import fixtures
import numpy as np
import PIL.Image
import pytest

from stylegan2.dataset import ImageDataset
from stylegan2.dataset_tool import common
from stylegan2.dataset_tool.cli import run
from stylegan2.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fails(argv, *fragments):
    """Runs a dataset_tool command that must fail: a one-line UserError containing every fragment."""
    return fixtures.one_line_user_error(run, argv, *fragments)


def no_output(parent, name="out"):
    """Neither the dataset nor a hidden partial directory is left in `parent`."""
    return not [e for e in os.listdir(parent) if e == name or e.startswith(f".{name}.")]


def test_non_square_image(tmp_path):
    fixtures.make_image_folder(str(tmp_path / "imgs"), num=3, size=16)
    PIL.Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "imgs" / "wide.png")
    fails(["create_from_images", str(tmp_path / "out"), str(tmp_path / "imgs")], "wide.png", "not square",
          "--resolution")
    assert no_output(tmp_path)


def test_wrong_size_images(tmp_path):
    fixtures.make_image_folder(str(tmp_path / "imgs"), num=3, size=16)
    PIL.Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "imgs" / "zbig.png")
    fails(["create_from_images", str(tmp_path / "out"), str(tmp_path / "imgs")], "zbig.png", "one size")
    PIL.Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "imgs" / "a12.png")
    fails(["create_from_images", str(tmp_path / "out"), str(tmp_path / "imgs")], "a12.png")

    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=4)
    PIL.Image.fromarray(np.zeros((200, 178, 3), np.uint8)).save(os.path.join(img_dir, "000003.png"))
    fails(["create_celeba", str(tmp_path / "out"), img_dir, "--shuffle", "0"], "000003.png", "178x218",
          "img_align_celeba")
    assert no_output(tmp_path)


def test_unreadable_image(tmp_path):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=4)
    with open(os.path.join(img_dir, "000002.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n garbage")
    fails(["create_celeba", str(tmp_path / "out"), img_dir], "000002.png", "cannot read image", "delete or replace")
    assert no_output(tmp_path)
    fixtures.make_image_folder(str(tmp_path / "imgs"), num=2, size=8)
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"not a jpeg")
    fails(["create_from_images", str(tmp_path / "out"), str(tmp_path / "imgs")], "broken.jpg", "cannot read image")
    assert no_output(tmp_path)


def test_missing_attribute_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # IG's fallback celeba/Anno/ is relative to the working directory
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "data"), num=3)
    os.remove(tmp_path / "data" / "Anno" / "list_attr_celeba.txt")
    fails(["create_celeba", str(tmp_path / "out"), img_dir], "list_attr_celeba.txt", "--attr_file",
          "--export_attr 0")
    assert no_output(tmp_path)
    run(["create_celeba", str(tmp_path / "out"), img_dir, "--export_attr", "0"])  # the way out works
    assert ImageDataset(str(tmp_path / "out")).label_dim == 0


def test_attribute_file_that_does_not_match(tmp_path):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=5, attr_rows=3)
    attr = str(tmp_path / "celeba" / "Anno" / "list_attr_celeba.txt")
    fails(["create_celeba", str(tmp_path / "out"), img_dir], attr, "000004.png", "does not match", "--attr_file")
    with open(attr, "a") as f:
        f.write("000009.jpg 1 1\n")
    fails(["create_celeba", str(tmp_path / "out"), img_dir], attr, "line 6")
    assert no_output(tmp_path)


def test_idx_wrong_magic(tmp_path):
    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=10)
    labels_file = str(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz")
    fixtures.write_idx(labels_file.replace("labels-idx1", "images-idx3"), np.zeros(10, np.uint8), 2049)
    fails(["create_mnist", str(tmp_path / "out"), str(tmp_path / "mnist")], "train-images-idx3-ubyte.gz",
          "wrong magic number 2049", "expected 2051")
    assert no_output(tmp_path)


def test_missing_mnist_and_source(tmp_path):
    fails(["create_mnist", str(tmp_path / "out"), str(tmp_path)], "train-images-idx3-ubyte.gz", "--split")
    fails(["create_mnist", str(tmp_path / "out")], "missing the source directory", "--tfds")
    assert no_output(tmp_path)


def test_existing_output_directory(tmp_path):
    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=10)
    out = str(tmp_path / "out")
    run(["create_mnist", out, str(tmp_path / "mnist")])
    before = sorted(os.listdir(out))
    fails(["create_mnist", out, str(tmp_path / "mnist")], out, "already exists", "--overwrite")
    assert sorted(os.listdir(out)) == before
    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=20)
    run(["create_mnist", out, str(tmp_path / "mnist"), "--overwrite"])
    assert ImageDataset(out).num_images == 20
    assert [e for e in os.listdir(tmp_path) if e.startswith(".out.")] == []


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=8)
    calls = []
    real_read = common.read_image

    def read_then_interrupt(path, mode=None):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_read(path, mode)

    monkeypatch.setattr("stylegan2.dataset_tool.celeba.read_image", read_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(["create_celeba", str(tmp_path / "out"), img_dir])
    assert no_output(tmp_path)


def test_killed_run_never_looks_complete(tmp_path):
    """SIGKILL mid-write: the target does not exist; the next run removes the stale partial directory."""
    fixtures.make_image_folder(str(tmp_path / "imgs"), num=1, size=256)
    for i in range(1, 400):
        os.link(tmp_path / "imgs" / "img000.png", tmp_path / "imgs" / f"img{i:03d}.png")
    cmd = [sys.executable, os.path.join(ROOT, "dataset_tool.py"), "create_from_images", str(tmp_path / "out"),
           str(tmp_path / "imgs")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.time() + 120
    while time.time() < deadline and not any(e.startswith(".out.partial-") for e in os.listdir(tmp_path)):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out").exists()
    assert any(e.startswith(".out.partial-") for e in os.listdir(tmp_path))
    run(["create_from_images", str(tmp_path / "out"), str(tmp_path / "imgs"), "--num_images", "2"])
    assert ImageDataset(str(tmp_path / "out")).num_images == 2
    assert not any(e.startswith(".out.partial-") for e in os.listdir(tmp_path))


def _small_dataset(tmp_path, num=64):
    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=num)
    out = str(tmp_path / "ds")
    run(["create_mnist", out, str(tmp_path / "mnist"), "--lods=false"])
    return out, os.path.join(out, "ds-r05.tfrecords")


def test_truncated_tfrecords(tmp_path):
    out, tfr = _small_dataset(tmp_path)
    with open(tfr, "r+b") as f:
        f.truncate(os.path.getsize(tfr) - 100)
    with pytest.raises(UserError, match=f"{tfr}: truncated or corrupted .tfrecords file.*re-create the dataset"):
        ImageDataset(out)


def test_corrupted_tfrecords_at_read_time(tmp_path):
    out, tfr = _small_dataset(tmp_path)
    with open(tfr, "r+b") as f:
        f.seek(os.path.getsize(tfr) // 2)
        f.write(b"\xff\x00\xff\x00")
    dataset = ImageDataset(out)  # same size: only the CRC can tell
    with pytest.raises(UserError, match=f"{tfr}: corrupted .tfrecords file"):
        list(dataset.iterate_numpy(batch_size=8))


def test_labels_that_do_not_fit(tmp_path):
    out, _ = _small_dataset(tmp_path)
    labels = os.path.join(out, "ds-rxx.labels")
    with open(labels, "wb") as f:
        np.save(f, np.zeros([10, 3], np.float32))
    with pytest.raises(UserError, match=f"{labels}: labels of shape \\[10, 3\\] do not fit 64 images"):
        ImageDataset(out)


def test_missing_dataset_directory(tmp_path):
    with pytest.raises(UserError, match="no such dataset directory"):
        ImageDataset(str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(UserError, match="no \\*.tfrecords files"):
        ImageDataset(str(tmp_path / "empty"))


def test_command_line_prints_one_line(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "dataset_tool.py"), "create_celeba",
                           str(tmp_path / "out"), str(tmp_path / "missing")],
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing'}: CelebA image directory not found; "
                                                f"pass the img_align_celeba folder, or --tfds"]
    assert no_output(tmp_path)
