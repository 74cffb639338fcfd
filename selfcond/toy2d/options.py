"""The 2D study's options: the original's 2d_mix/train.py flags, with their defaults, and what follows from them."""

import dataclasses
import os

from selfcond.toy2d import data

CLUSTER_SET_SIZE = 10000  # the fixed cluster set (2d_mix/train.py L90-94)


@dataclasses.dataclass
class Toy2DOptions:
    """The original's 2d_mix/train.py flags (same names and defaults), plus seed and eval_every."""

    clusterer: str
    data_type: str
    recluster_every: int = 5000
    nruns: int = 1
    burnin_time: int = 0
    variance: float = None
    model_type: str = "standard"
    num_clusters: int = 50
    z_dim: int = 2
    d_act_dim: int = 200
    npts: int = 100000
    train_batch_size: int = 100
    test_batch_size: int = 50000
    nepochs: int = 100
    outdir: str = "output"
    seed: int = 0
    eval_every: int = 1000

    @property
    def k(self):
        """Number of labels: the ground-truth modes for supervised, 1 for unconditional, else num_clusters."""
        if self.clusterer == "supervised":
            return data.NUM_MODES[self.data_type]
        return 1 if self.clusterer == "unconditional" else self.num_clusters

    @property
    def var(self):
        return data.DEFAULT_VARIANCE[self.data_type] if self.variance is None else self.variance

    @property
    def exp_dir(self):
        """output/[variance_][model_type_]{data}_{clusterer}_{recluster_every}_{k} (the original's exp_name)."""
        name = f"{self.data_type}_{self.clusterer}_{self.recluster_every}_{self.k}"
        if self.model_type != "standard":
            name = f"{self.model_type}_{name}"
        if self.variance is not None:
            name = f"{self.variance}_{name}"
        return os.path.join(self.outdir, name)

    def run_dir(self, run):
        """The experiment directory, or its `_run_{i}` sub-directory when nruns > 1 (where the original's
        f'{outdir}_run_{i}' lands, its outdir ending in '/')."""
        return self.exp_dir if self.nruns == 1 else os.path.join(self.exp_dir, f"_run_{run}")

    @property
    def iters_per_epoch(self):
        return self.npts // self.train_batch_size

    @property
    def total_iters(self):
        return self.nepochs * self.iters_per_epoch
