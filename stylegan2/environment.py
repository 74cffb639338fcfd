"""Process-wide TensorFlow settings, made before TensorFlow is imported (entry points call `configure()` first).

- TensorFlow's C++ start-up chatter: `TF_CPP_MIN_LOG_LEVEL=3`, and the lines its libraries print through absl before
  any log level applies ("All log messages before absl::InitializeLog() ...", "oneDNN custom operations are on",
  "Could not find cuda drivers", each twice) are kept off stderr while `import tensorflow` runs. A
  `TF_CPP_MIN_LOG_LEVEL` already set by the user wins, and then nothing is hidden.
- `TF_ENABLE_ONEDNN_OPTS=1` on x86-64: TensorFlow enables its oneDNN CPU kernels by default only on CPUs with
  AVX-512 VNNI or newer. On the AVX2 machine of bench/bench_stylegan2.py they run the forward and input-gradient
  convolutions 12-19% faster than the Eigen kernels (training +7-11%, generation +15-20%; figures in the README).
  A value already in the environment wins (`TF_ENABLE_ONEDNN_OPTS=0` restores the Eigen kernels).
"""

import importlib.abc
import importlib.util
import os
import platform
import sys


class _QuietLoader(importlib.abc.Loader):
    """Runs a module's loader with file descriptor 2 pointed at /dev/null (C++ code writes there directly)."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            self.loader.exec_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that silences stderr while the package initialises."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


QUIET_MARKER = "STYLEGAN2_QUIET_TF"  # set with our TF_CPP_MIN_LOG_LEVEL, so child processes know it is not the user's


def configure(log_level="3"):
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = log_level
        os.environ[QUIET_MARKER] = "1"
    if os.environ.get(QUIET_MARKER) == "1" and "tensorflow" not in sys.modules and \
            not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
