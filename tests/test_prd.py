"""`run_metrics.py prd`: InclusiveGAN's prd_from_image_folders.py over image folders, with a stand-in feature
network (the tests' Inception stand-in); the plot, the F_8 / F_1/8 table, the cache and one-line errors."""

import json
import os

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan2.metrics import arithmetic, feature_nets
from stylegan2.metrics import cli as metrics_cli
from stylegan2.metrics.prd import PALETTE
from tests.fixtures import one_line_user_error
from tests.test_metrics import StandInInception

STAND_IN = StandInInception()


def write_folder(path, images, ext=".png"):
    os.makedirs(path, exist_ok=True)
    for i, image in enumerate(images):
        PIL.Image.fromarray(image).save(os.path.join(path, f"{i:04d}{ext}"))
    return str(path)


def blobs(rng, num, brightness, size=16):
    """Images of a random mean level around `brightness`, with noise: a 1-D distribution the stand-in sees."""
    level = np.clip(rng.normal(brightness, 30, size=(num, 1, 1, 1)), 0, 255)
    return np.clip(level + rng.normal(0, 10, size=(num, size, size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture()
def folders(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, path=None: STAND_IN)
    rng = np.random.default_rng(0)
    ref = write_folder(tmp_path / "reals", blobs(rng, 60, 128))
    same = write_folder(tmp_path / "same", blobs(rng, 60, 128), ext=".jpg")
    dark = write_folder(tmp_path / "dark", blobs(rng, 60, 60))
    return tmp_path, ref, same, dark


def run(tmp_path, ref, evals, labels, *extra):
    return metrics_cli.main.__wrapped__(
        ["prd", "--reference_dir", ref, "--eval_dirs", *evals, "--eval_labels", *labels, "--num_runs", "2",
         "--result-dir", str(tmp_path / "results"), "--cache_dir", str(tmp_path / "cache"), *extra])


def embed(folder):
    images = np.stack([np.asarray(PIL.Image.open(os.path.join(folder, n)).convert("RGB"))
                       for n in sorted(os.listdir(folder))])
    return np.asarray(STAND_IN(tf.constant(images))["pool"])


def test_prd_over_two_folders_writes_plot_and_figures(folders, capsys):
    tmp_path, ref, same, dark = folders
    run_dir, results = run(tmp_path, ref, [same, dark], ["same distribution", "darker"])
    assert os.path.basename(run_dir) == "00000-prd"
    assert sorted(os.listdir(run_dir)) == ["prd.json", "prd.png", "prd.txt"]

    # The figures are the PRD arithmetic of the folders' embeddings (seeded clusterings as the command runs them).
    for folder, result in zip((same, dark), results):
        precision, recall = arithmetic.prd_curve(embed(ref), embed(folder), num_runs=2, seed=0)
        f_8, f_1_8 = arithmetic.max_f_beta_pair(precision, recall, beta=8)
        assert (result["F_8"], result["F_1/8"]) == (f_8, f_1_8)
        np.testing.assert_array_equal(result["precision"], precision)
    assert results[0]["F_8"] > 0.8 and results[1]["F_8"] < 0.6  # 60 images, 20 clusters: sampling noise

    # InclusiveGAN's table, printed and written.
    out = capsys.readouterr().out
    lines = open(os.path.join(run_dir, "prd.txt")).read().splitlines()
    assert lines[1] == "F_1/8 (precision)     F_8 (recall)   model"
    assert lines[2] == (f"{results[0]['F_1/8']:.4f}                {results[0]['F_8']:.4f}         "
                        f"same distribution ({same})")
    assert lines[2] in out and lines[3] in out
    record = json.load(open(os.path.join(run_dir, "prd.json")))
    assert record["num_clusters"] == 20 and len(record["results"][1]["recall"]) == 1001

    # The plot: a 700x700 PNG with both curves (tab10 blue and orange at alpha 0.5 on white) and their legend.
    plot = np.asarray(PIL.Image.open(os.path.join(run_dir, "prd.png")).convert("RGB")).astype(int)
    assert plot.shape == (700, 700, 3)
    for color in PALETTE[:2]:
        blended = 255 - (255 - np.array(color)) * 128 // 255
        assert (np.abs(plot - blended).max(axis=-1) <= 3).sum() > 500, color


def test_embeddings_are_cached_by_folder_content(folders, monkeypatch):
    tmp_path, ref, same, dark = folders
    first = run(tmp_path, ref, [same], ["a"])[1]
    class Failing(StandInInception):  # the same network name, but embedding anything fails
        def __call__(self, images):
            raise ZeroDivisionError

    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, path=None: Failing())
    assert run(tmp_path, ref, [same], ["a"])[1] == first  # nothing embedded again
    PIL.Image.fromarray(blobs(np.random.default_rng(1), 1, 200)[0]).save(os.path.join(same, "0000.jpg"))
    with pytest.raises(ZeroDivisionError):
        run(tmp_path, ref, [same], ["a"])  # a changed file is embedded again (IG's cache, keyed by path, was not)


def test_images_of_other_sizes_and_modes_are_read(folders):
    tmp_path, ref, _, _ = folders
    mixed = tmp_path / "mixed"
    write_folder(mixed, blobs(np.random.default_rng(2), 10, 128))
    PIL.Image.fromarray(blobs(np.random.default_rng(3), 1, 128, size=24)[0, :, :, 0]).save(mixed / "grey.png")
    PIL.Image.fromarray(np.zeros((16, 16, 4), np.uint8)).save(mixed / "rgba.png")
    (mixed / "notes.txt").write_text("not an image")
    results = run(tmp_path, ref, [str(mixed)], ["mixed"])[1]
    assert results[0]["num_images"] == 12


def test_bad_folders_and_flags_are_one_line(folders):
    tmp_path, ref, same, _ = folders
    main = metrics_cli.main.__wrapped__
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    base = ["prd", "--result-dir", str(tmp_path / "r")]
    one_line_user_error(main, base + ["--reference_dir", str(tmp_path / "nope"), "--eval_dirs", same, "--eval_labels",
                                      "a"], "--reference_dir", "nope", "not a directory")
    one_line_user_error(main, base + ["--reference_dir", ref, "--eval_dirs", str(empty), "--eval_labels", "a"],
                        "--eval_dirs", "no images")
    one_line_user_error(main, base + ["--reference_dir", ref, "--eval_dirs", str(tmp_path / "broken"),
                                      "--eval_labels", "a"], "x.png", "not a readable image")
    one_line_user_error(main, base + ["--reference_dir", ref, "--eval_dirs", same, same, "--eval_labels", "a"],
                        "--eval_labels", "1 labels for 2")
    one_line_user_error(main, base + ["--reference_dir", ref, "--eval_dirs", same, "--eval_labels", "a",
                                      "--plot_path", str(tmp_path / "p.pdf")], "--plot_path", "*.png")
    one_line_user_error(main, base + ["--eval_dirs", same, "--eval_labels", "a"], "--reference_dir")
    assert not os.path.exists(tmp_path / "r")
