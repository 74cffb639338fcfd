"""Bad input of every kind a user met in phase 1 ends in one line naming the thing and the fix (exit code 2 through
`exit_on_user_error`), and leaves nothing behind. (Resume and divergence cases: tests/test_resume.py; generation:
tests/test_generate.py::test_bad_input_is_one_line.)"""

import errno
import os
import subprocess
import sys

import fixtures
import numpy as np
import PIL.Image
import pytest

from stylegan2.dataset_tool.cli import run as dataset_tool
from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.training import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nothing_in(folder):
    return not os.path.exists(folder) or not [e for e in os.listdir(folder) if not e.startswith(".run-number")]


# === Numbers that do not parse, or are not finite ===

@pytest.mark.parametrize("argv, fragment", [
    (["--total-kimg", "nan"], "argument --total-kimg: expected a finite number, got 'nan'"),
    (["--total-kimg", "inf"], "argument --total-kimg: expected a finite number, got 'inf'"),
    (["--gamma", "big"], "argument --gamma: invalid number value: 'big'"),
    (["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["--lr", "0"], "--lr 0: must be positive"),
    (["--kimg-per-tick", "-1"], "--kimg-per-tick -1: must be positive"),
])
def test_training_numbers(tmp_path, argv, fragment):
    fixtures.one_line_user_error(cli.build_options, ["--dataset", "ds", "--result-dir", str(tmp_path), *argv],
                                 fragment)
    assert nothing_in(tmp_path)


@pytest.mark.parametrize("argv, fragment", [
    (["create_digits", "{tmp}/out", "--num_images", "many"], "argument --num_images: invalid int value: 'many'"),
    (["create_digits", "{tmp}/out", "--num_images", "1e12"], "argument --num_images: invalid int value: '1e12'"),
    (["create_pictures", "{tmp}/out"], "argument <command>: invalid choice: 'create_pictures'"),
    (["create_digits"], "the following arguments are required: tfrecord_dir"),
])
def test_dataset_tool_flags_that_do_not_parse(tmp_path, argv, fragment):
    fixtures.one_line_user_error(dataset_tool, [a.format(tmp=tmp_path) for a in argv], fragment)
    assert nothing_in(tmp_path)


def test_scripts_print_one_line_not_the_usage_block(tmp_path):
    for script, argv in (("dataset_tool.py", ["create_digits", str(tmp_path / "o"), "--num_images", "many"]),
                         ("run_training.py", ["--dataset", "ds", "--seed", "abc"]),
                         ("run_metrics.py", ["--network", "x", "--metrics-batch", "big"])):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *argv], capture_output=True, text=True)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (script, proc.stderr)
        assert proc.stderr.startswith("error: ") and "usage:" not in proc.stderr


# === dataset_tool outputs that cannot be written ===

def test_output_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("")
    fixtures.one_line_user_error(dataset_tool, ["create_digits", str(tmp_path / "afile" / "out"), "--num_images",
                                                "10"], "afile is a file, not a directory", "another output path")


def test_output_in_a_read_only_folder(tmp_path, monkeypatch):
    """As root (CI) chmod does not stop writes, so the file system's refusal is simulated where it happens."""
    real_makedirs = os.makedirs

    def read_only(path, *args, **kwargs):
        if os.path.basename(path).startswith(".out.partial-"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_makedirs(path, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    fixtures.one_line_user_error(dataset_tool, ["create_digits", str(tmp_path / "out"), "--num_images", "10"],
                                 "out: cannot write there (Permission denied)", "another output path")
    assert nothing_in(tmp_path)


def test_more_images_than_the_disk_holds(tmp_path):
    fixtures.one_line_user_error(dataset_tool, ["create_digits", str(tmp_path / "out"), "--num_images",
                                                str(10**12)], "--num_images 1000000000000: the dataset would take",
                                 "TB", "free; choose fewer images")
    assert nothing_in(tmp_path)


def test_rgba_images_are_refused_not_stripped(tmp_path):
    folder = tmp_path / "imgs"
    fixtures.make_image_folder(str(folder), num=3, size=8)
    PIL.Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(folder / "alpha.png")
    fixtures.one_line_user_error(dataset_tool, ["create_from_images", str(tmp_path / "out"), str(folder)],
                                 "alpha.png: image has an alpha channel (RGBA)", "flatten")
    assert nothing_in(tmp_path / "out")


# === Training inputs found after the run directory exists: no stub run directory is left ===

@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory):
    return fixtures.write_random_dataset(tmp_path_factory.mktemp("bad"), 32, seed=0)


def train(data_dir, dataset, result_dir, *extra):
    return cli.main.__wrapped__(["--data-dir", data_dir, "--dataset", dataset, "--config", "tiny", "--batch", "8",
                                 "--kimg-per-tick", "0.016", "--total-kimg", "0.016", "--grid", "2x2",
                                 "--result-dir", str(result_dir), *extra])


def test_cond_on_a_dataset_without_labels(unlabeled, tmp_path):
    with pytest.raises(UserError, match="^--cond=true: .*ds has no labels to condition on; drop --cond"):
        train(unlabeled, "ds", tmp_path, "--cond=true")
    assert nothing_in(tmp_path)


def test_a_damaged_snapshot_to_start_from(unlabeled, tmp_path):
    damaged = tmp_path / "network-snapshot-000010.keras"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match="not a readable network snapshot") as info:
        train(unlabeled, "ds", tmp_path / "results", "--resume", str(damaged))
    assert "\n" not in str(info.value)
    assert nothing_in(tmp_path / "results")


def test_records_corrupted_after_the_dataset_was_made(unlabeled, tmp_path):
    corrupt = tmp_path / "data" / "ds"
    os.makedirs(corrupt)
    for name in os.listdir(os.path.join(unlabeled, "ds")):
        data = bytearray(open(os.path.join(unlabeled, "ds", name), "rb").read())
        if name.endswith("-r03.tfrecords"):
            data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of a record
        (corrupt / name).write_bytes(bytes(data))
    with pytest.raises(UserError) as info:
        train(str(tmp_path / "data"), "ds", tmp_path / "results")
    message = str(info.value)
    assert "ds-r03.tfrecords: corrupted .tfrecords file" in message and "re-create the dataset" in message
    assert "function_node" not in message and "[Op:" not in message and "\n" not in message
    assert nothing_in(tmp_path / "results")


def test_a_multi_line_message_is_printed_on_one_line(capsys):
    @exit_on_user_error
    def command():
        raise UserError("first part\n  second part")

    with pytest.raises(SystemExit) as info:
        command()
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: first part second part\n"
