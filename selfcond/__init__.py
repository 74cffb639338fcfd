"""Self-Conditioned GAN (Liu, Wang, Bau, Zhu, Torralba, CVPR 2020; stevliu/self-conditioned-gan).

  clustering  the clusterers (selfcondgan k-means with warm start and Hungarian matching, online, supervised,
              random_labels, unconditional) over features supplied by the caller;
  toy2d       the paper's 2D ring / grid study (`python run_toy2d.py`).
"""
