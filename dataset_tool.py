#!/usr/bin/env python3
"""Create, inspect and compare StyleGAN2 TFRecord datasets: `python dataset_tool.py -h`."""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from stylegan2.dataset_tool.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
