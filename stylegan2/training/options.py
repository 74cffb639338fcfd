"""Training options: one plain, JSON-serialisable record built from the command line (ADA's
setup_training_loop_kwargs), written to training_options.json and the only input of the training loop."""

import dataclasses
import json
import os

from stylegan2.errors import UserError

# NV TF1 training_schedule: kimg per tick by resolution (config-e/f train at full resolution from the start).
NV_TICK_KIMG = {4: 28, 8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}


@dataclasses.dataclass
class TrainingOptions:
    method: str = "stylegan2"  # registered method (stylegan2.training.method)
    config: str = "config-f"  # network/hyper-parameter preset (stylegan2.presets)
    data_dir: str = "datasets"  # parent directory of datasets
    dataset: str = None  # dataset directory name under data_dir (or a path)
    result_dir: str = "results"  # parent of the run directories
    num_gpus: int = 1  # replicas: GPUs, or logical CPU devices when there is no GPU
    total_kimg: float = 25000  # training length in thousands of real images shown to D
    batch: int = None  # global minibatch (None: the preset's)
    batch_gpu: int = None  # per-replica samples of one gradient-accumulation round (None: all of its batch)
    mirror_augment: bool = False  # random horizontal flips of the reals
    conditional: bool = False  # condition G and D on the dataset's labels
    metrics: list = dataclasses.field(default_factory=list)  # metrics at each network snapshot
    resume: str = None  # run directory (exact resume) or .keras snapshot (weights only)
    seed: int = 1000  # NV: rnd.np_random_seed 1000
    snapshot_ticks: int = 10  # network snapshot, image grid and metrics every N ticks
    checkpoint_ticks: int = 1  # resumable checkpoint every N ticks (and at every snapshot)
    kimg_per_tick: float = None  # None: NVIDIA's per-resolution table
    grid: str = "1080p"  # image grid: '1080p' (NVIDIA's) or 'WxH' images
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism()
    precision: str = "fp32"  # --precision: fp32, bf16, fp16 or auto (stylegan2.precision)
    fp16_res: int = 4  # --fp16-res: resolutions computed in reduced precision (NVIDIA's num_fp16_res)
    resolved_precision: str = None  # what the run computes in (auto resolved at its start; fixed on resume)
    hparams: dict = dataclasses.field(default_factory=dict)  # the preset's training hyper-parameters, overridden
    network_overrides: dict = dataclasses.field(default_factory=dict)  # keyword overrides for build_networks
    method_options: dict = dataclasses.field(default_factory=dict)  # method-specific flags
    metric_settings: dict = dataclasses.field(default_factory=dict)  # MetricContext keywords (--inception, ...)
    run_dir: str = None  # set when the run starts

    @property
    def dataset_path(self):
        if self.dataset is None:
            raise UserError("--dataset: missing; name a directory made by dataset_tool.py (under --data-dir)")
        return self.dataset if os.path.isabs(self.dataset) else os.path.join(self.data_dir or "", self.dataset)

    def tick_kimg(self, resolution):
        return self.kimg_per_tick or NV_TICK_KIMG.get(resolution, 4)

    def grid_size(self, resolution):
        """(columns, rows) of image grids; '1080p' is NVIDIA's rule (clip(1920 // W, 7, 32) x clip(1080 // H, 4, 32))."""
        if self.grid == "1080p":
            return min(max(1920 // resolution, 7), 32), min(max(1080 // resolution, 4), 32)
        try:
            cols, rows = (int(v) for v in self.grid.lower().split("x"))
        except ValueError:
            raise UserError(f"--grid {self.grid}: expected '1080p' or COLSxROWS such as 8x4") from None
        if cols < 1 or rows < 1:
            raise UserError(f"--grid {self.grid}: needs at least one column and one row")
        return cols, rows

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path):
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(self.to_json() + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                return cls.from_json(f.read())
        except (OSError, ValueError, TypeError) as err:
            raise UserError(f"{path}: unreadable training options ({err})") from None
