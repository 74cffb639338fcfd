"""`python -m selfcond.get_gt_imgs`: N real images in the original's .npz layout (keys real and fake, [0,255] NHWC),
written atomically; bad input is one line and exit code 2."""

import os

import numpy as np
import pytest

from selfcond import get_gt_imgs
from stylegan2.tfrecords import TFRecordExporter

NUM = 10


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    images = np.random.RandomState(0).randint(0, 256, size=(NUM, 3, 8, 8)).astype(np.uint8)  # NCHW, as stored
    with TFRecordExporter(str(root / "ds"), NUM, progress=False) as tfr:
        tfr.add_images(images)
    return str(root), images.transpose(0, 2, 3, 1)


def test_exports_real_images_in_the_originals_layout(dataset, tmp_path):
    data_dir, source = dataset
    out = str(tmp_path / "gt.npz")
    assert get_gt_imgs.main(["--data-dir", data_dir, "--dataset", "ds", "--num", "6", "--output", out]) == out
    with np.load(out) as f:
        assert sorted(f.files) == ["fake", "real"]
        real, fake = f["real"], f["fake"]
    assert real.dtype == np.uint8 and real.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(real, fake)
    # Each exported image is one record, unflipped, with its exact pixels; six different records.
    rows = [next(i for i in range(NUM) if np.array_equal(img, source[i])) for img in real]
    assert len(set(rows)) == 6
    assert not [name for name in os.listdir(tmp_path) if "tmp" in name]
    get_gt_imgs.main(["--data-dir", data_dir, "--dataset", "ds", "--num", str(NUM), "--output", out])
    with np.load(out) as f:
        assert sorted(map(bytes, f["real"])) == sorted(map(bytes, source))  # all of them: the whole dataset


@pytest.mark.parametrize("extra,message", [
    (["--num", "0"], "error: --num 0: must be at least 1"),
    (["--num", "11"], "error: --num 11: .* has 10 images; give --num 10 or fewer"),
    (["--output", "gt.txt"], "error: --output gt.txt: must end in .npz"),
    (["--output", "/nonexistent-dir/gt.npz"], "error: --output /nonexistent-dir/gt.npz: no such directory"),
    (["--dataset", "missing"], "error: .*missing: no such dataset directory"),
    (["--num", "many"], "error: python -m selfcond.get_gt_imgs: argument --num: invalid int value"),
])
def test_bad_input_is_one_line_and_exit_2(dataset, tmp_path, capsys, extra, message):
    data_dir, _ = dataset
    argv = ["--data-dir", data_dir, "--dataset", "ds", "--output", str(tmp_path / "gt.npz")]
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    with pytest.raises(SystemExit) as exit_info:
        get_gt_imgs.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").match(message, err.strip())
    assert not os.listdir(tmp_path)


def test_nothing_half_written(dataset, tmp_path, monkeypatch):
    data_dir, _ = dataset
    out = tmp_path / "gt.npz"

    def failing_savez(path, **arrays):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        get_gt_imgs.main(["--data-dir", data_dir, "--dataset", "ds", "--output", str(out), "--num", "4"])
    assert not os.listdir(tmp_path)
