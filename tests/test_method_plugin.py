"""The method plug-in seam: a method from another package, registered through the entry-point group
`stylegan2_family.methods`, gets `--method <name>` with its flags and --help, trains, snapshots, resumes, generates
with its own generation option and computes its own metric through the three root scripts, with no edit in this
repository. The package is the README's example (`examples/hinge_method`), pip-installed into a temporary folder.
"""

import ast
import json
import os
import re
import subprocess
import sys

import fixtures
import numpy as np
import pytest

from stylegan2.errors import UserError
from stylegan2.flags import Flag
from stylegan2.training import cli
from stylegan2.training.method import list_methods, register_method
from stylegan2.training.snapshot import read_metadata
from stylegan2.training.stylegan2_method import StyleGAN2Method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "hinge_method")


@register_method
class InProcessMethod(StyleGAN2Method):
    """A method registered from inside the test: its flags, defaults and validation reach build_options."""
    name = "test-in-process"
    description = "A test method"
    flags = (Flag("knob", int, 3, "A knob"), Flag("mode", str, "a", "A mode", choices=("a", "b")))
    default_config = "tiny"

    @classmethod
    def configure(cls, options, args):
        if args.snapshot_ticks is None:
            options.snapshot_ticks = 2
        if options.method_options["knob"] < 0:
            raise UserError(f"--knob {options.method_options['knob']}: must be non-negative")


def test_a_method_registered_in_process_brings_flags_defaults_and_validation():
    options, _ = cli.build_options(["--dataset", "ds", "--method", "test-in-process", "--knob", "5"])
    assert options.config == "tiny" and options.snapshot_ticks == 2
    assert options.method_options == {"knob": 5, "mode": "a"}
    options, _ = cli.build_options(["--dataset", "ds", "--method", "test-in-process", "--snapshot-ticks", "7"])
    assert options.snapshot_ticks == 7 and options.method_options["knob"] == 3
    with pytest.raises(UserError, match="^--knob -1: must be non-negative$"):
        cli.build_options(["--dataset", "ds", "--method", "test-in-process", "--knob", "-1"])
    with pytest.raises(UserError, match="^--knob: an option of --method test-in-process, not of --method stylegan2"):
        cli.build_options(["--dataset", "ds", "--knob", "1"])
    with pytest.raises(UserError, match="argument --mode: invalid choice"):
        cli.build_options(["--dataset", "ds", "--method", "test-in-process", "--mode", "c"])
    help_text = cli.build_parser().format_help()
    assert "A test method (--method test-in-process):" in help_text and "A knob (default: 3)" in help_text


def test_the_backbone_never_names_a_method_package():
    """The one-way rule: stylegan2/ imports no method package (dev.py deps, read from the source), and no string of
    its code names one."""
    sys.path.insert(0, ROOT)
    import dev

    edges = dev.package_imports()
    assert edges["stylegan2"] == set() and edges["inclusive"] == {"stylegan2"}
    methods = set(dev.PACKAGES) - {"stylegan2"}
    named = []
    for folder, _, files in os.walk(os.path.join(ROOT, "stylegan2")):
        for name in (f for f in files if f.endswith(".py")):
            tree = ast.parse(open(os.path.join(folder, name)).read())
            named += [f"{name}: {node.value!r}" for node in ast.walk(tree)
                      if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in methods]
    assert not named


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """examples/hinge_method installed with pip into a private folder on PYTHONPATH, and a tiny dataset."""
    root = tmp_path_factory.mktemp("plugin")
    site = root / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--disable-pip-version-check", "--target", str(site), EXAMPLE],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (site / "hinge_method.py").is_file()
    fixtures.write_random_dataset(root, 32)
    env = dict(os.environ, PYTHONPATH=str(site))
    return root, env


def installed_methods():
    """The methods of this repository that import here (stylegan2 first), without the test's own."""
    return [name for name in list_methods() if not name.startswith("test-")]


def script(env, cwd, *argv):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, argv[0]), *argv[1:]], cwd=str(cwd), env=env,
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_installed_plugin_trains_resumes_generates_and_measures(plugin_env):
    root, env = plugin_env
    rc, out, err = script(env, root, "run_training.py", "--help")
    assert rc == 0, err
    assert "StyleGAN2 with the hinge loss (--method hinge):" in out and "--hinge-margin" in out
    with_hinge = ", ".join(sorted(installed_methods() + ["hinge"], key=lambda name: (name != "stylegan2", name)))
    assert "Margin of D's hinge loss (default: 1.0)" in out and f"Methods: {with_hinge}." in out

    train = ["run_training.py", "--method", "hinge", "--hinge-margin", "0.5", "--data-dir", str(root), "--dataset",
             "ds", "--config", "tiny", "--batch", "8", "--kimg-per-tick", "0.016", "--snapshot-ticks", "1",
             "--grid", "2x2", "--result-dir", str(root / "results")]
    rc, out, err = script(env, root, *train, "--total-kimg", "0.016")
    assert rc == 0, err
    run_dir = os.path.join(root, "results", "00000-hinge-ds-tiny-1gpu-margin0.5")
    assert os.path.isfile(os.path.join(run_dir, "network-snapshot-000000.016.keras")), out
    options = json.load(open(os.path.join(run_dir, "training_options.json")))
    assert options["method"] == "hinge" and options["method_options"] == {"hinge_margin": 0.5}
    meta = read_metadata(os.path.join(run_dir, "network-snapshot-000000.016.keras"))
    assert meta["method"] == "hinge" and meta["method_options"] == {"hinge_margin": 0.5}
    assert meta["sampling"] == {"labels": "none"}

    rc, out, err = script(env, root, "run_training.py", "--resume", run_dir, "--total-kimg", "0.032")
    assert rc == 0, err
    assert "Resumed from the checkpoint at kimg 0.0 (iteration 2)" in out
    assert os.path.isfile(os.path.join(run_dir, "network-snapshot-000000.032.keras"))

    gen = ["run_generator.py", "generate-images", f"--network={run_dir}", "--seeds=0-1", "--truncation-psi=1",
           "--noise-mode=const", f"--result-dir={root / 'gen'}"]
    rc, out, err = script(env, root, *gen, "--z-temperature", "1.0")
    assert rc == 0, err
    rc, out, err = script(env, root, *gen, "--z-temperature", "0")
    assert rc == 0, err
    one, zero = (np.asarray(__import__("PIL.Image").Image.open(os.path.join(root, "gen", d, "seed0001.png")))
                 for d in ("00000-generate-images", "00001-generate-images"))
    assert not np.array_equal(one, zero)  # z scaled to 0: another image (the generation option reached G)

    rc, out, err = script(env, root, "run_metrics.py", "--metrics=hinge_real_margin", f"--network={run_dir}",
                          f"--result-dir={root / 'metrics'}")
    assert rc == 0, err
    assert len(re.findall(r"network-snapshot-\S+ +time .* hinge_real_margin [0-9.]+", out)) == 2  # both snapshots

    rc, out, err = script(env, root, "run_projector.py", "project-real-images", f"--network={run_dir}",
                          f"--data-dir={root}", "--dataset=ds", "--num-images=2", "--num-steps=2",
                          "--minibatch-size=2", "--rec-loss=l2", f"--result-dir={root / 'proj'}")
    assert rc == 0, err and "IvOM" in out

    # Without the plug-in installed, its snapshots and its flags get one line naming the method.
    bare = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    rc, out, err = script(bare, root, *gen)
    assert "hinge" not in installed_methods()
    assert rc == 2 and err.strip().splitlines() == [
        f"error: {os.path.join(run_dir, 'network-snapshot-000000.032.keras')}: a snapshot of --method hinge: its "
        f"package is not installed; install the package that provides it (installed: {', '.join(installed_methods())})"]
    rc, out, err = script(bare, root, *train)
    assert rc == 2 and err.strip().splitlines() == [
        f"error: --method hinge: unknown method; choose one of {', '.join(installed_methods())}"]
