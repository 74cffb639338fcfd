#!/usr/bin/env python3
"""Per-cluster grids of generated and real images of a --method selfcond snapshot, and an HTML gallery with a filter:
`python visualize_clusters.py -h`.

    python visualize_clusters.py --network=results/00000-selfcond-stacked_mnist-small-1gpu-selfcondgan-k100
"""

from stylegan2 import environment  # before TensorFlow is imported

environment.configure()

from selfcond.gallery import main  # noqa: E402

if __name__ == "__main__":
    main()
