"""The Self-Conditioned GAN's 2D study (the original's `2d_mix/`): mixtures of Gaussians on a ring and a grid.

  data      the ring (8 modes) and grid (25 modes) samplers and their mode centres;
  metrics   % high-quality samples (3-sigma box), modes covered, reverse KL (natural log);
  networks  the MLP generator with BatchNorm and the Maxout discriminator with one logit per cluster;
  plots     scatter PNGs (reals vs fakes, fakes on [-6,6]^2, test points coloured by cluster), drawn with Pillow;
  train     one run: data, clusterer, training steps, evaluation, checkpoints, exact resume;
  cli       `python run_toy2d.py` (the original's `2d_mix/train.py` flags).
"""
