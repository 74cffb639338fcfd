"""Named StyleGAN2 configurations as data: network arguments and training hyper-parameters.

One table, one row per preset, like ADA's `cfg_specs` (train.py) and TF1's `_valid_configs` (run_training.py). A row
holds only what varies; `get_preset` expands it into `G_kwargs`, `D_kwargs` (for `stylegan2.networks`) and
`training_kwargs` (names as ADA's). Resolution, channels and labels come from the dataset: see `build_networks`.

Example:
```python
from stylegan2 import presets
presets.list_presets()                      # ['config-e', 'config-f', 'config-e-Gorig-Dorig', ..., 'tiny']
presets.get_preset("config-f")["training_kwargs"]["r1_gamma"]  # 10.0
G, D = presets.build_networks("tiny", img_resolution=16, img_channels=3)
```
"""

import copy

from stylegan2.errors import UserError
from stylegan2.networks import Discriminator, Generator

# === Table ===

# Training hyper-parameters shared by every preset (NVIDIA TF1 run_training.py / training_loop.py defaults).
TRAINING_DEFAULTS = dict(
    pl_weight=2.0,              # Path length regularization weight.
    pl_decay=0.01,              # Decay of the running mean of path lengths.
    pl_batch_shrink=2,          # The path length batch is batch_gpu // pl_batch_shrink.
    style_mixing_prob=0.9,      # Probability of mixing the styles of two latents in a training batch.
    ema_kimg=10.0,              # Half-life of the generator's EMA, in thousands of images (TF1 `G_smoothing_kimg`).
    ema_rampup=None,            # ADA: half-life at most ema_rampup x images seen (short runs); None = NVIDIA TF1.
    G_reg_interval=4,           # Lazy regularization: path length every 4 G steps.
    D_reg_interval=16,          # Lazy regularization: R1 every 16 D steps.
    lr=0.002,                   # Adam learning rate of G and D (before the lazy-regularization correction).
    betas=(0.0, 0.99),          # Adam beta1, beta2.
    eps=1e-8,                   # Adam epsilon.
)

# Columns: G, D = architectures; fmap_base, fmap_max = channels, nf(stage) = clip(fmap_base / 2^stage, 1, fmap_max)
# with nf(r - 1) at resolution 2^r; latent = z_dim = w_dim; map = mapping layers; mbstd = minibatch std group size;
# gamma = R1 weight; batch = global batch size; batch_gpu = per-device batch of one round (NVIDIA `minibatch_gpu`:
# gradients are accumulated over batch / (batch_gpu * devices) rounds, 8 for config-e/f on one device; batch_gpu must
# be a multiple of mbstd); training = training hyper-parameters that differ from TRAINING_DEFAULTS. The CPU presets
# take the whole batch in one round.
_E = dict(G="skip", D="resnet", fmap_base=8192, fmap_max=512, latent=512, map=8, mbstd=4, gamma=100.0, batch=32, batch_gpu=4)
_PRESETS = {
    "config-e": dict(
        _E,
        description="StyleGAN2 config E: skip G, residual D, half of config F's channels at 64 px and above; IG's default.",
        source="StyleGAN2 paper Table 1 row E; NVIDIA run_training.py --config=config-e (fmap_base 8 << 10, gamma 100).",
    ),
    "config-f": dict(
        _E,
        fmap_base=16384,
        gamma=10.0,
        description="StyleGAN2 config F: config E with twice the channels at 64 px and above, and R1 gamma 10.",
        source="StyleGAN2 paper Table 1 row F; NVIDIA run_training.py --config=config-f (fmap_base 16 << 10, gamma 10).",
    ),
    **{
        f"config-e-G{g}-D{d}": dict(
            _E,
            G=g,
            D=d,
            description=f"Config E with a {g} generator and a {d} discriminator (the architecture grid).",
            source=f"StyleGAN2 paper Table 2; NVIDIA run_training.py --config=config-e-G{g}-D{d}.",
        )
        for g in ("orig", "skip", "resnet")
        for d in ("orig", "skip", "resnet")
    },
    "bench32": dict(
        _E,
        fmap_base=2048,
        fmap_max=128,
        gamma=10.0,
        batch=32,
        batch_gpu=32,
        description="Benchmark: config E/F layers at 32 px with 128 channels at every resolution, full 8x512 mapping.",
        source="This project (bench/); params at 32x32x3: G 3,860,243 (mapping 2,101,248), D 1,346,305.",
    ),
    "small": dict(
        _E,
        D="orig",
        fmap_base=1024,
        fmap_max=32,
        latent=128,
        map=2,
        mbstd=32,
        gamma=0.01,
        batch=64,
        batch_gpu=32,
        training=dict(pl_weight=0.0, style_mixing_prob=0.0, ema_kimg=500.0, ema_rampup=0.05, lr=0.0025),
        description=(
            "CPU demo and Stacked MNIST: 32 channels up to 64 px, 2x128 mapping, ADA's cifar training choices (no path "
            "length, no style mixing, orig D, batch 64 as 2 rounds of 32, mbstd group 32, R1 gamma 0.01, lr 0.0025, "
            "EMA 500 kimg ramp 0.05)."
        ),
        source=(
            "This project: 1/16 of config E's channels (64 channels cost 2.3x the time per kimg); the rest as NVIDIA "
            "ADA-PyTorch train.py cfg_specs['cifar'] (ref_gpus 2, mb 64, mbstd 32, map 2, lrate 0.0025, gamma 0.01, "
            "ema 500, ramp 0.05) and training/loss.py defaults for it (pl_weight 0, style_mixing 0, D architecture orig)."
        ),
    ),
    "tiny": dict(
        _E,
        fmap_base=128,
        fmap_max=16,
        latent=16,
        map=2,
        gamma=10.0,
        batch=8,
        batch_gpu=8,
        description="Tests: 16 channels up to 16 px (8 at 32 px), 2x16 mapping; use 8 to 32 px.",
        source="This project (tests/).",
    ),
}


# === API ===


def list_presets():
    """Names of every preset, in table order."""
    return list(_PRESETS)


def get_preset(name):
    """The preset `name` as a new dict: name, description, source, G_kwargs, D_kwargs, training_kwargs.

    G_kwargs and D_kwargs lack img_resolution, img_channels and c_dim (they come from the dataset).
    Raises UserError for an unknown name.
    """
    if name not in _PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(_PRESETS)}")
    row = _PRESETS[name]
    return dict(
        name=name,
        description=row["description"],
        source=row["source"],
        G_kwargs=dict(
            z_dim=row["latent"],
            w_dim=row["latent"],
            mapping_kwargs=dict(num_layers=row["map"]),
            synthesis_kwargs=dict(architecture=row["G"], fmap_base=row["fmap_base"], fmap_max=row["fmap_max"]),
        ),
        D_kwargs=dict(
            architecture=row["D"],
            fmap_base=row["fmap_base"],
            fmap_max=row["fmap_max"],
            mbstd_group_size=row["mbstd"],
        ),
        training_kwargs=dict(
            copy.deepcopy(TRAINING_DEFAULTS), r1_gamma=row["gamma"], batch_size=row["batch"], batch_gpu=row["batch_gpu"],
            **copy.deepcopy(row.get("training", {})),
        ),
    )


def _merge(base, overrides):
    """base updated by overrides, recursing into nested dicts (so synthesis_kwargs can be overridden key by key)."""
    merged = dict(base)
    for key, value in (overrides or {}).items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def build_networks(preset_name, img_resolution, img_channels, c_dim=0, d_head=None, G_kwargs=None, D_kwargs=None,
                   generator_class=Generator):
    """(G, D) of a preset for a dataset, with every weight created (built from their configs, no forward pass).

    d_head: the discriminator head, None = 'projection' when c_dim > 0 (NVIDIA's conditioning), else 'unconditional'.
    G_kwargs, D_kwargs: overrides merged into the preset's, nested dicts key by key, e.g.
    `G_kwargs=dict(synthesis_kwargs=dict(init_mul=0.5), mapping_kwargs=dict(init_mul=0.5))` for InclusiveGAN.
    generator_class: a Generator subclass taking the same arguments (and any extra ones in G_kwargs).
    """
    preset = get_preset(preset_name)
    if d_head is None:
        d_head = "projection" if c_dim else "unconditional"
    G = generator_class(
        c_dim=c_dim,
        img_resolution=img_resolution,
        img_channels=img_channels,
        name="generator",
        **_merge(preset["G_kwargs"], G_kwargs),
    )
    D = Discriminator(
        c_dim=c_dim,
        img_resolution=img_resolution,
        img_channels=img_channels,
        head=d_head,
        name="discriminator",
        **_merge(preset["D_kwargs"], D_kwargs),
    )
    G.build()
    D.build()
    return G, D
