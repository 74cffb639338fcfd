#!/usr/bin/env python3
"""The Self-Conditioned GAN's 2D ring / grid experiments (the original's 2d_mix/train.py): `python run_toy2d.py -h`.

    python run_toy2d.py --clusterer selfcondgan --data_type ring
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from selfcond.toy2d.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
