"""stylegan2.presets: the table against NVIDIA's configs, lookups, and build_networks."""

import numpy as np
import pytest

from stylegan2.errors import UserError
from stylegan2.networks import Discriminator, Generator
from stylegan2.presets import TRAINING_DEFAULTS, build_networks, get_preset, list_presets

ARCHS = ("orig", "skip", "resnet")
GRID = [f"config-e-G{g}-D{d}" for g in ARCHS for d in ARCHS]

# NVIDIA TF1 run_training.py / training_loop.py values, named as ADA's.
NV_TRAINING = dict(
    pl_weight=2.0, pl_decay=0.01, pl_batch_shrink=2, style_mixing_prob=0.9, ema_kimg=10.0,
    G_reg_interval=4, D_reg_interval=16, lr=0.002, betas=(0.0, 0.99), eps=1e-8,
)


def channels_at(preset, resolutions):
    """Feature maps the preset's synthesis network has at each resolution."""
    G = Generator(img_resolution=max(resolutions), img_channels=3, **preset["G_kwargs"])
    filters = {layer.resolution: layer.filters for layer in G.synthesis.convs}
    return [filters[res] for res in resolutions]


def test_list_presets():
    assert list_presets() == ["config-e", "config-f", *GRID, "bench32", "small", "tiny"]
    for name in list_presets():
        preset = get_preset(name)
        assert preset["name"] == name
        assert preset["description"] and "\n" not in preset["description"]
        assert preset["source"] and "\n" not in preset["source"]


def test_unknown_preset_is_a_user_error():
    with pytest.raises(UserError) as info:
        get_preset("config-g")
    message = str(info.value)
    assert "\n" not in message and "'config-g'" in message
    for name in list_presets():
        assert name in message


# NVIDIA ADA-PyTorch train.py, cfg_specs["cifar"] and its `if cfg == 'cifar'` block, named as ours.
ADA_CIFAR_TRAINING = dict(pl_weight=0.0, style_mixing_prob=0.0, ema_kimg=500.0, ema_rampup=0.05, lr=0.0025,
                          r1_gamma=0.01, batch_size=64, batch_gpu=32)  # mb 64 over ref_gpus 2


def test_training_hyper_parameters_are_nvidia_defaults():
    assert TRAINING_DEFAULTS == {**NV_TRAINING, "ema_rampup": None}  # no EMA ramp-up in NVIDIA's TF1 code
    for name in list_presets():
        training = get_preset(name)["training_kwargs"]
        if name == "small":
            continue
        assert {k: training[k] for k in NV_TRAINING} == NV_TRAINING
        assert training["ema_rampup"] is None
        mbstd = get_preset(name)["D_kwargs"]["mbstd_group_size"]
        assert training["batch_gpu"] % mbstd == 0 and training["batch_size"] % training["batch_gpu"] == 0


def test_small_takes_ada_cifar_training_choices():
    small = get_preset("small")
    training = small["training_kwargs"]
    assert {k: training[k] for k in ADA_CIFAR_TRAINING} == ADA_CIFAR_TRAINING
    rest = {k: v for k, v in training.items() if k not in ADA_CIFAR_TRAINING}
    assert rest == {k: v for k, v in NV_TRAINING.items() if k not in ADA_CIFAR_TRAINING}
    assert small["D_kwargs"]["architecture"] == "orig" and small["D_kwargs"]["mbstd_group_size"] == 32
    assert small["G_kwargs"]["synthesis_kwargs"]["architecture"] == "skip"
    assert small["G_kwargs"]["mapping_kwargs"]["num_layers"] == 2


def test_config_e_and_f_match_nvidia():
    e, f = get_preset("config-e"), get_preset("config-f")
    assert e["G_kwargs"] == dict(
        z_dim=512, w_dim=512, mapping_kwargs=dict(num_layers=8),
        synthesis_kwargs=dict(architecture="skip", fmap_base=8192, fmap_max=512),
    )
    assert e["D_kwargs"] == dict(architecture="resnet", fmap_base=8192, fmap_max=512, mbstd_group_size=4)
    assert e["training_kwargs"]["r1_gamma"] == 100 and f["training_kwargs"]["r1_gamma"] == 10
    assert (e["training_kwargs"]["batch_size"], e["training_kwargs"]["batch_gpu"]) == (32, 4)
    # config-f changes fmap_base and gamma, nothing else (reference notes §1.1).
    assert f["G_kwargs"]["synthesis_kwargs"]["fmap_base"] == f["D_kwargs"]["fmap_base"] == 16384
    for key in ("G_kwargs", "D_kwargs", "training_kwargs"):
        f_as_e = {k: v for k, v in f[key].items() if k not in ("fmap_base", "r1_gamma")}
        e_rest = {k: v for k, v in e[key].items() if k not in ("fmap_base", "r1_gamma")}
        if key == "G_kwargs":
            f_as_e["synthesis_kwargs"] = dict(f_as_e["synthesis_kwargs"], fmap_base=8192)
        assert f_as_e == e_rest


def test_architecture_grid():
    e = get_preset("config-e")
    for name in GRID:
        preset = get_preset(name)
        g, d = name[len("config-e-G"):].split("-D")
        assert preset["G_kwargs"]["synthesis_kwargs"]["architecture"] == g
        assert preset["D_kwargs"]["architecture"] == d
        assert preset["G_kwargs"]["synthesis_kwargs"]["fmap_base"] == preset["D_kwargs"]["fmap_base"] == 8192
        assert preset["training_kwargs"] == e["training_kwargs"]
    same = get_preset("config-e-Gskip-Dresnet")
    assert {k: same[k] for k in ("G_kwargs", "D_kwargs", "training_kwargs")} == {
        k: e[k] for k in ("G_kwargs", "D_kwargs", "training_kwargs")
    }


def test_small_presets():
    bench, small, tiny = get_preset("bench32"), get_preset("small"), get_preset("tiny")
    assert channels_at(bench, [4, 8, 16, 32]) == [128] * 4
    assert bench["G_kwargs"]["mapping_kwargs"]["num_layers"] == 8 and bench["G_kwargs"]["w_dim"] == 512
    assert (bench["G_kwargs"]["synthesis_kwargs"]["architecture"], bench["D_kwargs"]["architecture"]) == ("skip", "resnet")
    assert bench["D_kwargs"]["mbstd_group_size"] == 4
    assert channels_at(small, [4, 8, 16, 32, 64]) == [32] * 5
    assert 2 <= small["G_kwargs"]["mapping_kwargs"]["num_layers"] <= 4
    assert 128 <= small["G_kwargs"]["z_dim"] == small["G_kwargs"]["w_dim"] <= 256
    assert all(8 <= c <= 16 for c in channels_at(tiny, [4, 8, 16, 32]))
    assert tiny["G_kwargs"]["mapping_kwargs"]["num_layers"] == 2 and tiny["G_kwargs"]["w_dim"] == 16


def test_every_preset_constructs_networks():
    for name in list_presets():
        preset = get_preset(name)
        G = Generator(img_resolution=32, img_channels=3, **preset["G_kwargs"])  # no weights: construction only
        D = Discriminator(img_resolution=32, img_channels=3, **preset["D_kwargs"])
        assert G.synthesis.architecture == preset["G_kwargs"]["synthesis_kwargs"]["architecture"]
        assert D.architecture == preset["D_kwargs"]["architecture"]


def test_get_preset_returns_copies():
    preset = get_preset("tiny")
    preset["G_kwargs"]["synthesis_kwargs"]["architecture"] = "orig"
    preset["training_kwargs"]["betas"] = (0.5, 0.9)
    assert get_preset("tiny")["G_kwargs"]["synthesis_kwargs"]["architecture"] == "skip"
    assert get_preset("tiny")["training_kwargs"]["betas"] == (0.0, 0.99)


def test_build_networks():
    G, D = build_networks(
        "tiny", img_resolution=16, img_channels=1, c_dim=4,
        G_kwargs=dict(synthesis_kwargs=dict(architecture="resnet")), D_kwargs=dict(mbstd_group_size=2),
    )
    assert G.built and D.built and G.weights and D.weights
    assert (G.name, D.name) == ("generator", "discriminator")
    assert G.synthesis.architecture == "resnet" and G.synthesis.fmap_base == 128  # merged key by key
    assert D.head == "projection" and D.mbstd_group_size == 2  # conditional: NVIDIA's projection by default
    z, c = np.zeros((2, 16), np.float32), np.eye(4, dtype=np.float32)[:2]
    img = G(z, c)
    assert img.shape == (2, 16, 16, 1) and D(img, c).shape == (2, 1)

    _, D = build_networks("tiny", img_resolution=8, img_channels=3, c_dim=3, d_head="auxiliary")
    scores, logits = D(np.zeros((2, 8, 8, 3), np.float32))
    assert scores.shape == (2, 1) and logits.shape == (2, 3)
    _, D = build_networks("tiny", img_resolution=8, img_channels=3)
    assert D.head == "unconditional"
    with pytest.raises(UserError, match="valid presets"):
        build_networks("config-x", img_resolution=8, img_channels=3)
