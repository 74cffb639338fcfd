#!/usr/bin/env python3
"""Train a StyleGAN2-family GAN: `python run_training.py -h`.

    python run_training.py --num-gpus=2 --data-dir=datasets --config=config-f --dataset=ffhq --mirror-augment=true
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter (no GPU, cuInit) hides output

from stylegan2.training.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
