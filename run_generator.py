#!/usr/bin/env python3
"""Generate images, style-mixing grids and interpolations from a network snapshot: `python run_generator.py -h`.

    python run_generator.py generate-images --network=results/00000-ffhq --seeds=6600-6625 --truncation-psi=0.5
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter (no GPU, cuInit) hides output

from stylegan2.generate import main  # noqa: E402

if __name__ == "__main__":
    main()
