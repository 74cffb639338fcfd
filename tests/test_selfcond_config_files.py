"""`--selfcond-config FILE.json`: the original's configs with inherit_from, as JSON files of selfcond flags; the
command line wins; cycles and bad files are one line; the shipped files are the original's per-dataset configs."""

import json
import os

import pytest

from selfcond.presets import DATASET_PRESETS
from stylegan2.errors import UserError
from stylegan2.training import cli

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "selfcond", "configs")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def method_options(*extra):
    options, _ = cli.build_options(["--method", "selfcond", "--dataset", "x", *extra])
    return options


def test_inherit_from_chain_and_the_command_line_wins(tmp_path):
    write(tmp_path / "base.json", {"clusterer": "online", "k": 7, "recluster_every": 3, "matching": False})
    child = write(tmp_path / "sub" / "child.json", {"inherit_from": "../base.json", "k": 9, "burnin": "2"})
    m = method_options("--selfcond-config", child).method_options
    assert (m["clusterer"], m["k"], m["recluster_every"], m["burnin"], m["matching"]) == ("online", 9, 3, 2, False)
    assert m["cluster_images"] == 25000 and m["initialization"] is True  # not in the files: the preset's, the default
    m = method_options("--selfcond-config", child, "--k", "11", "--matching", "true").method_options
    assert (m["k"], m["matching"], m["recluster_every"]) == (11, True, 3)
    unset = write(tmp_path / "sub" / "unset.json", {"inherit_from": "../base.json", "k": None})
    assert method_options("--selfcond-config", unset).method_options["k"] == 100  # null: the preset's again


def test_cycles_and_bad_files_are_one_line(tmp_path, capsys):
    a = write(tmp_path / "a.json", {"inherit_from": "b.json", "k": 3})
    write(tmp_path / "b.json", {"inherit_from": "a.json"})
    with pytest.raises(UserError, match=r"inherit_from cycle a\.json -> b\.json -> a\.json; remove one link$"):
        method_options("--selfcond-config", a)
    me = write(tmp_path / "me.json", {"inherit_from": "me.json"})
    with pytest.raises(UserError, match=r"inherit_from cycle me\.json -> me\.json"):
        method_options("--selfcond-config", me)
    for data, message in (
            ({"inherit_from": "none.json"}, r"none\.json: no such file \(inherit_from of "),
            ("{\"k\": ", "not a readable JSON file"),
            ("[1, 2]", "must hold a JSON object of flags"),
            ({"inherit_from": 3}, "inherit_from must be a file name"),
            ({"kk": 3}, "unknown key 'kk'; the keys are selfcond's flags: burnin, "),
            ({"k": "x"}, "k: 'x' is not valid"),
            ({"k": 2.5}, "k: 2.5 must be a whole number"),
            ({"matching": 1}, "matching: 1 must be true or false"),
            ({"clusterer": "kmeans"}, "clusterer: 'kmeans' is not one of selfcondgan, "),
            ({"k": 0}, "--k 0: must be at least 1")):
        bad = write(tmp_path / "bad.json", data)
        with pytest.raises(UserError, match=message):
            method_options("--selfcond-config", bad)
    with pytest.raises(UserError, match="no such file"):
        method_options("--selfcond-config", str(tmp_path / "missing.json"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--method", "selfcond", "--dataset", "x", "--selfcond-config", a, "--dry-run"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "inherit_from cycle" in err


@pytest.mark.parametrize("dataset", sorted(DATASET_PRESETS))
def test_shipped_files_are_the_originals_configs(dataset):
    preset = DATASET_PRESETS[dataset]
    options = method_options("--selfcond-config", os.path.join(CONFIGS, dataset, "selfcondgan.json"))
    m = options.method_options
    assert m["dataset_preset"] == dataset and m["clusterer"] == "selfcondgan"
    assert (m["k"], m["cluster_images"], m["recluster_every"], m["burnin"]) == (
        preset["k"], preset["cluster_images"], preset["recluster_every"], 0)
    assert m["deterministic_augment"] is preset["deterministic"] and m["embed_dim"] == 256
    assert options.mirror_augment is not preset["deterministic"]
    assert options.hparams["r1_gamma"] == (2 * preset["r1_reg"] if preset["r1_reg"] else 10.0)
    m = method_options("--selfcond-config", os.path.join(CONFIGS, dataset, "unconditional.json")).method_options
    big = dataset in ("imagenet", "places")  # their cluster set size is in selfcondgan.yaml, as the original's
    assert (m["clusterer"], m["k"], m["cluster_images"]) == ("unconditional", 1, 100 if big else 25000)
    m = method_options("--selfcond-config", os.path.join(CONFIGS, dataset, "conditional.json")).method_options
    assert (m["clusterer"], m["k"]) == ("supervised", None)
