#!/usr/bin/env python3
"""Train a StyleGAN2-family GAN: `python run_training.py -h`.

    python run_training.py --num-gpus=2 --data-dir=datasets --config=config-f --dataset=ffhq --mirror-augment=true
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from stylegan2.training.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
