#!/usr/bin/env python3
"""Convert an NVIDIA StyleGAN2 / InclusiveGAN / StyleGAN2-ADA network pickle to a .keras snapshot, without running
code from the pickle: `python convert_network.py -h`.

    python convert_network.py stylegan2-ffhq-config-f.pkl ffhq-config-f.keras
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from stylegan2.importers.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
