"""The float32 default is bit for bit what it was before mixed precision existed.

tests/default_path_values.py computes a seeded tiny G and D (outputs and an input gradient) and two training
iterations of the `tiny` preset (every phase; weights, G_ema, Adam moments, pl_mean, losses). It runs here twice,
in fresh processes on this machine: with this commit's package, and with the package of BASE_COMMIT (main as last
merged into the mixed-precision branch), taken from git. Every array must be equal, bit for bit. (Values saved on
one machine could not be compared on another: oneDNN picks other kernels for other CPUs.) A later change of main
that alters the float32 path on purpose moves BASE_COMMIT to the commit of that change.
"""

import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_COMMIT = "b09fc73bf893f815fc8939965f107a020fd979f6"  # main as last merged into mixed precision (issue 18)
SCRIPT = os.path.join(ROOT, "tests", "default_path_values.py")


def _base_package(destination):
    """Extracts BASE_COMMIT's stylegan2/ into `destination`; skips the test when git or the commit is missing."""
    try:
        archive = subprocess.run(["git", "archive", BASE_COMMIT, "stylegan2"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"the code before mixed precision is not available from git ({err})")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def _values(package_root, scratch, output):
    os.makedirs(scratch)
    env = dict(os.environ, PYTHONPATH="")
    done = subprocess.run([sys.executable, SCRIPT, package_root, output, scratch], cwd=scratch, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(output)


@pytest.mark.slow
def test_float32_default_is_bit_identical_to_the_code_before_mixed_precision(tmp_path):
    base = tmp_path / "base"
    _base_package(base)
    before = _values(str(base), str(tmp_path / "run-base"), str(tmp_path / "base.npz"))
    now = _values(ROOT, str(tmp_path / "run-now"), str(tmp_path / "now.npz"))
    assert sorted(before.files) == sorted(now.files) and len(now.files) > 100
    different = [name for name in before.files if not np.array_equal(before[name], now[name])]
    assert not different, different
