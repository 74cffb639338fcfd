"""StyleGAN2 backbone of stylegan2-family: data, networks, losses, training loop, metrics, snapshots."""

__version__ = "0.1.0"
