#!/usr/bin/env python3
"""Project real images into a generator's latent space (InclusiveGAN's IvOM): `python run_projector.py -h`.

    python run_projector.py project-real-images --network=results/00000-celeba --data-dir=datasets \
        --dataset=celeba_align_png_cropped_30k --num-images=3000 --num-steps=400
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from inclusive.projector import main

if __name__ == "__main__":
    main()
