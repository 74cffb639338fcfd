#!/usr/bin/env python3
"""Compute metrics of network snapshots: `python run_metrics.py -h`.

    python run_metrics.py --metrics=fid50k,pr50k3 --network=results/00000-ffhq --data-dir=datasets --dataset=ffhq
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from stylegan2.metrics.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
