"""The demo's check (stylegan2/demo.py): the held-out digit classifier labels generated digits, one grid row per
class, figures written atomically. A tiny conditional run of a few steps stands in for the demo's 40 kimg run."""

import json
import os

import numpy as np
import PIL.Image
import pytest

from stylegan2 import demo
from stylegan2.dataset_tool.cli import run as dataset_tool
from stylegan2.training import cli as training_cli
from fixtures import one_line_user_error


@pytest.mark.slow
def test_check_digits_labels_generated_digits_per_class(tmp_path, capsys):
    data = tmp_path / "datasets"
    dataset_tool(["create_digits", str(data / "digits"), "--channels", "1", "--split", "train", "--lods", "false"])
    dataset_tool(["create_digits", str(data / "digits_heldout"), "--channels", "1", "--split", "test", "--lods",
                  "false"])
    run_dir = training_cli.main.__wrapped__(
        ["--data-dir", str(data), "--dataset", "digits", "--config", "tiny", "--cond", "true", "--total-kimg", "0.016",
         "--batch", "8", "--kimg-per-tick", "0.016", "--grid", "2x2", "--result-dir", str(tmp_path / "results")])
    out = tmp_path / "demo"
    out.mkdir()
    figures = demo.check_digits(run_dir, str(data / "digits"), str(data / "digits_heldout"), str(out), epochs=1)

    assert figures["generated"] == 10 * demo.PER_CLASS
    per_class = figures["per_class_confident_and_as_asked"]
    assert len(per_class) == 10
    np.testing.assert_allclose(np.mean(per_class), figures["generated_confident_and_as_asked"])  # equal class sizes
    assert 0 <= figures["generated_confident_and_as_asked"] <= figures["generated_confident"] <= 1
    assert figures["generated_confident_and_as_asked"] <= figures["generated_as_asked"] <= 1
    assert 0 <= figures["real_digits_confident"] <= 1 and 0 <= figures["classifier_accuracy_on_gan_training_digits"] <= 1
    assert json.load(open(out / "digit_check.json")) == figures
    assert not [name for name in os.listdir(out) if ".tmp" in name]
    grid = np.asarray(PIL.Image.open(out / "digits-by-class.png"))
    assert grid.shape[:2] == (10 * 32, demo.GRID_COLS * 32)  # one row per class


def test_demo_check_of_a_missing_run_is_one_line(tmp_path):
    one_line_user_error(demo.main.__wrapped__, ["--out", str(tmp_path), "--check", str(tmp_path / "no-run")],
                        "no-run: not found", "--check needs a run directory of the demo")
