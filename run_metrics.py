#!/usr/bin/env python3
"""Compute metrics of network snapshots: `python run_metrics.py -h`.

    python run_metrics.py --metrics=fid50k,pr50k3 --network=results/00000-ffhq --data-dir=datasets --dataset=ffhq
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter (no GPU, cuInit) hides output

from stylegan2.metrics.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
