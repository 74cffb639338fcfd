#!/usr/bin/env python3
"""Generate images, style-mixing grids and interpolations from a network snapshot: `python run_generator.py -h`.

    python run_generator.py generate-images --network=results/00000-ffhq --seeds=6600-6625 --truncation-psi=0.5
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from stylegan2.generate import main  # noqa: E402

if __name__ == "__main__":
    main()
