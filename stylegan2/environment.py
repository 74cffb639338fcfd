"""Process-wide TensorFlow settings, made before TensorFlow is imported (entry points call `configure()` first).

- `TF_CPP_MIN_LOG_LEVEL`: TensorFlow's C++ start-up chatter (no GPU, cuInit) would hide the output.
- `TF_ENABLE_ONEDNN_OPTS=1` on x86-64: TensorFlow enables its oneDNN CPU kernels by default only on CPUs with
  AVX-512 VNNI or newer. On the AVX2 machine of bench/bench_stylegan2.py they run the forward and input-gradient
  convolutions 12-19% faster than the Eigen kernels (training +7-11%, generation +15-20%; figures in the README).
Both are defaults: a value already in the environment wins (`TF_ENABLE_ONEDNN_OPTS=0` restores the Eigen kernels).
"""

import os
import platform


def configure(log_level="3"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", log_level)
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
