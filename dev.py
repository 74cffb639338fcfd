#!/usr/bin/env python3
"""Set up the project's virtualenv and run its main jobs. Needs only python3.

    python3 dev.py demo     build the demo dataset, train a small StyleGAN2 on it, generate images
    python3 dev.py test     run the test suite (what CI runs)
    python3 dev.py deps     print which top-level package imports which (the backbone must import no method)

Both create `.venv/` and install the pinned dependencies from pyproject.toml on first use
(and again whenever pyproject.toml changes). Extra arguments are passed on (to pytest for `test`).
"""

import ast
import hashlib
import os
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PYTHON = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".stylegan2-family-installed")


def _run(cmd, **kwargs):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kwargs)


def ensure_venv(extras="test"):
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        want = hashlib.sha256(f.read() + extras.encode()).hexdigest()
    if os.path.isfile(STAMP) and open(STAMP).read().strip() == want:
        return
    if not os.path.isfile(PYTHON):
        print(f"Creating virtualenv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    rc = _run([PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", f".[{extras}]"])
    if rc != 0:
        sys.exit(f"dev.py: installing the dependencies into {VENV} failed (pip exit {rc}); "
                 "check the network access to PyPI, then rerun, or delete .venv/ to start over.")
    with open(STAMP, "w") as f:
        f.write(want + "\n")


PACKAGES = ("stylegan2", "inclusive", "acgan", "lis", "selfcond")


def package_imports(root=ROOT):
    """{package: {packages it imports}} over this repository's top-level packages, read from the source (ast)."""
    edges = {}
    for package in PACKAGES:
        folder = os.path.join(root, package)
        if not os.path.isdir(folder):
            continue
        edges[package] = set()
        for dirpath, _, files in os.walk(folder):
            for name in files:
                if not name.endswith(".py"):
                    continue
                with open(os.path.join(dirpath, name)) as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                    edges[package] |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES} - {package}
    return edges


def main(argv):
    if len(argv) < 1 or argv[0] not in ("demo", "test", "setup", "deps"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "deps":
        for package, imported in package_imports().items():
            print(f"{package:10s} -> {', '.join(sorted(imported)) or '(nothing of this repository)'}")
        return 0
    ensure_venv()
    env = dict(os.environ)
    if command == "setup":
        return 0
    if command == "test":
        return _run([PYTHON, "-m", "pytest", *rest], env=env)
    return _run([PYTHON, "-m", "stylegan2.demo", *rest], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
