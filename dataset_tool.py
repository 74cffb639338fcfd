#!/usr/bin/env python3
"""Create, inspect and compare StyleGAN2 TFRecord datasets: `python dataset_tool.py -h`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter (no GPU, cuInit) hides output

from stylegan2.dataset_tool.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
