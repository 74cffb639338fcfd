"""The self-conditioned GAN's per-dataset settings (the original's configs/<dataset>/selfcondgan.yaml, reference
section 1.6 and 2.2), as data.

Columns: k = clusters (G and D nlabels), cluster_images = the fixed cluster set (`clusterer.nimgs`), recluster_every
= training iterations between re-clusterings (`training.recluster_every`), r1_reg = the original's `reg_param` of
selfcondgan (R1 without the 1/2 factor, None = no R1), deterministic = the original's `data.deterministic` as its
loaders apply it (Stacked MNIST's loader has neither flips nor noise; the others flip and add U[0, 1/128) noise). Only the 128-px presets give selfcondgan its own R1 (0.1,
against 10 for their unconditional and class-conditional configs); on the StyleGAN2 backbone it becomes
r1_gamma = 2 x reg_param = 0.2. At 32 px the original trains every method without R1 on its DCGAN backbone; here R1
stays the --config's (StyleGAN2's D needs it), for every method alike.
"""

from stylegan2.errors import UserError

DATASET_PRESETS = {
    #               k    cluster_images  recluster_every  r1_reg  deterministic  source
    "stacked_mnist": dict(k=100, cluster_images=25000, recluster_every=25000, r1_reg=None, deterministic=True,
                          source="configs/stacked_mnist/{default,selfcondgan}.yaml"),
    "cifar": dict(k=100, cluster_images=25000, recluster_every=25000, r1_reg=None, deterministic=False,
                  source="configs/cifar/{default,selfcondgan}.yaml"),
    "imagenet": dict(k=100, cluster_images=50000, recluster_every=75000, r1_reg=0.1, deterministic=False,
                     source="configs/imagenet/selfcondgan.yaml"),
    "places": dict(k=100, cluster_images=50000, recluster_every=75000, r1_reg=0.1, deterministic=False,
                   source="configs/places/selfcondgan.yaml"),
}
DEFAULT_PRESET = "stacked_mnist"  # the 32-px settings, for a dataset whose name matches none


def infer_preset(dataset_name):
    """The preset whose name is in the dataset's directory name (as the original's metrics.py picks a dataset from
    the config path), else the 32-px settings."""
    name = (dataset_name or "").lower()
    for preset in DATASET_PRESETS:
        if preset in name:
            return preset
    return DEFAULT_PRESET


def get_preset(name):
    if name not in DATASET_PRESETS:
        raise UserError(f"--dataset-preset {name}: choose one of {', '.join(DATASET_PRESETS)}")
    return dict(DATASET_PRESETS[name])
