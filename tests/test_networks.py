"""stylegan2.networks: NVIDIA's channel table and parameter counts, architectures wired as TF1, w_avg, truncation,
style mixing, noise, `.keras` round trips, and w_avg under MirroredStrategy."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan2.networks import (
    ARCHITECTURES,
    D_HEADS,
    Discriminator,
    Generator,
    MappingNetwork,
    SynthesisNetwork,
    mix_styles,
    nf,
)
from stylegan2.ops import downsample2d, setup_filter, upsample2d
from stylegan2.presets import build_networks
from stylegan2.training.strategy import mirrored_strategy

RNG = np.random.default_rng(0)
F = setup_filter([1, 3, 3, 1])
TINY = dict(z_dim=16, w_dim=16, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(fmap_base=128, fmap_max=16))
TINY_D = dict(fmap_base=128, fmap_max=16)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=atol)


def num_params(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def tiny_G(img_resolution=16, c_dim=0, **synthesis_kwargs):
    G = Generator(
        c_dim=c_dim,
        img_resolution=img_resolution,
        img_channels=3,
        **dict(TINY, synthesis_kwargs=dict(TINY["synthesis_kwargs"], **synthesis_kwargs)),
    )
    G.build()
    return G


def tiny_D(img_resolution=16, **kwargs):
    D = Discriminator(img_resolution=img_resolution, img_channels=3, **dict(TINY_D, **kwargs))
    D.build()
    return D


def perturb(model, scale=0.1):
    """Make zero-initialised weights (biases, noise strengths, w_avg) take part in a comparison."""
    for variable in model.weights:
        variable.assign(variable.numpy() + randn(*variable.shape) * scale)


# === NVIDIA's channel table and parameter counts ===


def test_channel_table_matches_nvidia():
    # Reference notes §1.6: feature maps at 4, 8, ..., 1024 px (nf(r - 1) at 2^r).
    expected = {
        8192: [512, 512, 512, 512, 256, 128, 64, 32, 16],
        16384: [512, 512, 512, 512, 512, 256, 128, 64, 32],
    }
    for fmap_base, channels in expected.items():
        assert [nf(r - 1, fmap_base) for r in range(2, 11)] == channels
    assert nf(0, 16384) == 512 and nf(4, 2048, fmap_max=128) == 128 and nf(5, 2048, fmap_max=128) == 64


def nv_param_counts(resolution, fmap_base, fmap_max=512, latent=512, mapping_layers=8, channels=3,
                    G_arch="skip", D_arch="resnet", mbstd_features=1):
    """Trainable parameters of NV TF1 G_main and D_stylegan2, tallied by hand from the variables each TF1 function
    creates (training/networks_stylegan2.py), independently of stylegan2.networks:
    dense_layer / conv2d_layer: `weight` [in,out] / [k,k,in,out], + `bias` [out] where apply_bias_act follows;
    modulated_conv2d_layer: `weight` [k,k,in,out], `mod_weight` [latent,in], `mod_bias` [in];
    G layer(): modconv + `noise_strength` [] + `bias` [out]; ToRGB: modconv 1x1 + `bias` [channels];
    G Skip / D Skip: 1x1 conv, no bias. Returns (mapping, synthesis, D)."""
    def f(stage):
        return min(max(int(fmap_base / 2.0**stage), 1), fmap_max)

    def modconv(k, fin, fout):
        return k * k * fin * fout + latent * fin + fin

    def layer(fin, fout):
        return modconv(3, fin, fout) + 1 + fout

    def torgb(fin):
        return modconv(1, fin, channels) + channels

    R = int(math.log2(resolution))
    mapping = mapping_layers * (latent * latent + latent)  # Dense0..7
    synthesis = 16 * f(1) + layer(f(1), f(1))  # 4x4/Const, 4x4/Conv
    if G_arch == "skip" or R == 2:
        synthesis += torgb(f(1))
    for r in range(3, R + 1):
        synthesis += layer(f(r - 2), f(r - 1)) + layer(f(r - 1), f(r - 1))  # Conv0_up, Conv1
        if G_arch == "resnet":
            synthesis += f(r - 2) * f(r - 1)  # Skip
        if G_arch == "skip" or r == R:
            synthesis += torgb(f(r - 1))

    D = 0
    for r in range(R, 2, -1):
        if D_arch == "skip" or r == R:
            D += channels * f(r - 1) + f(r - 1)  # FromRGB
        D += 9 * f(r - 1) * f(r - 1) + f(r - 1)  # Conv0
        D += 9 * f(r - 1) * f(r - 2) + f(r - 2)  # Conv1_down
        if D_arch == "resnet":
            D += f(r - 1) * f(r - 2)  # Skip
    if D_arch == "skip":
        D += channels * f(1) + f(1)  # 4x4/FromRGB
    D += 9 * (f(1) + mbstd_features) * f(1) + f(1)  # 4x4/Conv after MinibatchStddev
    D += 16 * f(1) * f(0) + f(0)  # 4x4/Dense0
    D += f(0) + 1  # Output, label_size 0
    return mapping, synthesis, D


@pytest.fixture(scope="module")
def config_f_1024():
    return build_networks("config-f", img_resolution=1024, img_channels=3)  # weights only, no forward pass


def test_config_f_1024_parameter_counts(config_f_1024):
    G, D = config_f_1024
    counts = (num_params(G.mapping), num_params(G.synthesis), num_params(D))
    assert counts == (2_101_248, 28_268_812, 29_012_513)
    assert num_params(G) == 30_370_060
    assert counts == nv_param_counts(1024, fmap_base=16384)


def test_bench32_parameter_counts():
    G, D = build_networks("bench32", img_resolution=32, img_channels=3)
    assert (num_params(G), num_params(G.mapping), num_params(D)) == (3_860_243, 2_101_248, 1_346_305)
    assert (num_params(G.mapping), num_params(G.synthesis), num_params(D)) == nv_param_counts(32, 2048, fmap_max=128)


@pytest.mark.parametrize(
    "G_arch, D_arch, resolution", [("orig", "orig", 16), ("resnet", "skip", 16), ("skip", "resnet", 8), ("skip", "skip", 4)]
)
def test_parameter_counts_per_architecture(G_arch, D_arch, resolution):
    G = tiny_G(resolution, architecture=G_arch)
    D = tiny_D(resolution, architecture=D_arch)
    expected = nv_param_counts(resolution, 128, fmap_max=16, latent=16, mapping_layers=2, G_arch=G_arch, D_arch=D_arch)
    assert (num_params(G.mapping), num_params(G.synthesis), num_params(D)) == expected


# === Forward passes and layer wiring ===


@pytest.mark.parametrize("G_arch", ARCHITECTURES)
@pytest.mark.parametrize("D_arch", ARCHITECTURES)
def test_forward_shapes_every_architecture(G_arch, D_arch):
    G, D = build_networks(
        "tiny", img_resolution=16, img_channels=3,
        G_kwargs=dict(synthesis_kwargs=dict(architecture=G_arch)), D_kwargs=dict(architecture=D_arch),
    )
    img = G(randn(4, 16))
    assert img.shape == (4, 16, 16, 3)
    assert D(img).shape == (4, 1)
    torgbs = [layer.name for layer in G.synthesis.torgbs.values()]
    assert torgbs == (["b4.torgb", "b8.torgb", "b16.torgb"] if G_arch == "skip" else ["b16.torgb"])
    assert bool(G.synthesis.skips) == (G_arch == "resnet") and bool(D.skips) == (D_arch == "resnet")


@pytest.mark.parametrize("resolution", [4, 8, 32, 256, 1024])
def test_num_ws_and_noise_shapes(resolution):
    synthesis = SynthesisNetwork(w_dim=16, img_resolution=resolution, img_channels=3, fmap_base=128, fmap_max=16)
    assert synthesis.num_ws == 2 * int(math.log2(resolution)) - 2
    sizes = [4] + [2**r for r in range(3, int(math.log2(resolution)) + 1) for _ in range(2)]
    assert synthesis.noise_shapes == [(s, s) for s in sizes]
    assert len(synthesis.noise_shapes) == synthesis.num_ws - 1  # TF1: num_layers - 1 noise inputs


def test_resolution_4():
    """TF1's D_stylegan2 has no FromRGB at 4 px unless 'skip'; ours puts one there for every architecture."""
    G, D = tiny_G(4), tiny_D(4)
    img = G(randn(2, 16))
    assert G.num_ws == 2 and img.shape == (2, 4, 4, 3) and D(img).shape == (2, 1)
    assert [layer.name for layer in D.fromrgbs.values()] == ["b4.fromrgb"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_synthesis_follows_tf1(architecture):
    """The forward pass written out from TF1's G_synthesis_stylegan2 listing, with the network's own layers."""
    G = tiny_G(16, architecture=architecture)
    perturb(G)
    s = G.synthesis
    ws = randn(2, s.num_ws, 16)
    layer = {layer.name: layer for layer in s.convs + list(s.torgbs.values()) + list(s.skips.values())}

    def conv(name, x, idx):
        return layer[name](x, ws[:, idx], noise_mode="const")

    x = conv("b4.conv1", s.const(ws), 0)
    y = layer["b4.torgb"](x, ws[:, 1]) if architecture == "skip" else None
    for res, r in ((8, 3), (16, 4)):
        t = x
        x = conv(f"b{res}.conv0", x, 2 * r - 5)
        x = conv(f"b{res}.conv1", x, 2 * r - 4)
        if architecture == "resnet":
            x = (x + layer[f"b{res}.skip"](t)) / np.sqrt(2)
        if architecture == "skip":
            y = upsample2d(y, F) + layer[f"b{res}.torgb"](x, ws[:, 2 * r - 3])
    if architecture != "skip":
        y = layer["b16.torgb"](x, ws[:, 5])
    close(s(ws, noise_mode="const"), y, atol=1e-4)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_discriminator_follows_tf1(architecture):
    """The forward pass written out from TF1's D_stylegan2 listing, with the network's own layers."""
    D = tiny_D(16, architecture=architecture)
    perturb(D)
    img = randn(4, 16, 16, 3)
    x, y = None, img
    for res in (16, 8):
        if architecture == "skip" or res == 16:
            t = D.fromrgbs[res](y)
            x = t if x is None else x + t
        t = x
        x = D.conv1s[res](D.conv0s[res](x))
        if architecture == "resnet":
            x = (x + D.skips[res](t)) / np.sqrt(2)
        if architecture == "skip":
            y = downsample2d(y, F)
    if architecture == "skip":
        x = x + D.fromrgbs[4](y)
    x = D.conv(D.mbstd(x))
    x = D.fc(np.reshape(np.asarray(x), (4, -1)))
    close(D(img), D.out(x), atol=1e-4)


def test_skip_output_is_sum_of_upsampled_torgb():
    G = tiny_G(16, architecture="skip")
    perturb(G)
    s = G.synthesis
    ws = randn(2, s.num_ws, 16)
    full = np.asarray(s(ws, noise_mode="const"))
    saved = {res: [v.numpy() for v in torgb.weights] for res, torgb in s.torgbs.items()}

    contributions = {}
    for keep in s.torgbs:
        for res, torgb in s.torgbs.items():
            for variable, value in zip(torgb.weights, saved[res]):
                variable.assign(value if res == keep else np.zeros_like(value))
        contributions[keep] = np.asarray(s(ws, noise_mode="const"))
    close(sum(contributions.values()), full, atol=1e-4)
    for variable, value in zip(s.torgbs[4].weights, saved[4]):
        variable.assign(value)

    # The 4x4 contribution is b4.torgb(b4.conv1(const)), upsampled twice by the FIR filter.
    x = s.convs[0](s.const(ws), ws[:, 0], noise_mode="const")
    close(contributions[4], upsample2d(upsample2d(s.torgbs[4](x, ws[:, 1]), F), F), atol=1e-4)


def test_conditional_mapping_is_tf1_label_concat():
    mapping = MappingNetwork(z_dim=6, c_dim=3, w_dim=8, num_ws=4, num_layers=2)
    mapping.build()
    perturb(mapping)
    z, c = randn(5, 6), randn(5, 3)
    embed = mapping.embed.numpy()
    assert embed.shape == (3, 6) and len(mapping.trainable_weights) == 1 + 2 * 2
    x = np.concatenate([z, c @ embed], axis=1)  # no equalized-LR gain on the embedding
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for fc in mapping.fcs:
        x = x @ fc.weight.numpy() * (0.01 / np.sqrt(x.shape[1])) + fc.bias.numpy() * 0.01
        x = np.where(x > 0, x, 0.2 * x) * np.sqrt(2)
    ws = np.asarray(mapping(z, c))
    assert ws.shape == (5, 4, 8)
    close(ws, np.broadcast_to(x[:, None], ws.shape), atol=1e-4)
    with pytest.raises(ValueError, match="no labels"):
        mapping(z)


@pytest.mark.parametrize("embed_features", [None, 5])
def test_dense_label_embedding_is_ada_with_its_width(embed_features):
    """label_embed='dense' (ADA): embed c with an equalized-LR dense layer (w_dim wide, or embed_features), pixel-norm
    it and the z on their own, concatenate; the default width stays w_dim."""
    mapping = MappingNetwork(z_dim=6, c_dim=3, w_dim=8, num_ws=4, num_layers=2, label_embed="dense",
                             embed_features=embed_features)
    mapping.build()
    perturb(mapping)
    width = embed_features or 8
    assert mapping.embed.weight.shape == (3, width) and mapping.fcs[0].weight.shape == (6 + width, 8)

    def norm(v):
        return v / np.sqrt(np.mean(v**2, axis=1, keepdims=True) + 1e-8)

    z, c = randn(5, 6), randn(5, 3)
    y = c @ mapping.embed.weight.numpy() / np.sqrt(3) + mapping.embed.bias.numpy()
    x = np.concatenate([norm(z), norm(y)], axis=1)
    for fc in mapping.fcs:
        x = x @ fc.weight.numpy() * (0.01 / np.sqrt(x.shape[1])) + fc.bias.numpy() * 0.01
        x = np.where(x > 0, x, 0.2 * x) * np.sqrt(2)
    close(np.asarray(mapping(z, c))[:, 0], x, atol=1e-4)
    clone = MappingNetwork.from_config(mapping.get_config())
    clone.build()
    assert clone.embed.weight.shape == (3, width)
    with pytest.raises(ValueError, match="embed_features=4 needs label_embed='dense'"):
        MappingNetwork(z_dim=6, c_dim=3, embed_features=4)


def test_unconditional_mapping_ignores_labels():
    G = tiny_G(8)
    z = randn(3, 16)
    close(G.mapping(z, randn(3, 7)), G.mapping(z))


@pytest.mark.parametrize("head", D_HEADS)
def test_discriminator_heads(head):
    D = tiny_D(8, c_dim=5, head=head)
    perturb(D)
    img, c = randn(4, 8, 8, 3), randn(4, 5)
    out = D(img, c)
    features = np.asarray(D.features(img))
    assert features.shape == (4, 16)
    if head == "auxiliary":
        scores, logits = out
        assert scores.shape == (4, 1) and logits.shape == (4, 5)
        close(scores, D.out(features), atol=1e-4)
        close(logits, D.cls(features), atol=1e-4)
    elif head == "multi_logit":
        assert out.shape == (4, 5)
        close(out, D.out(features), atol=1e-4)
    elif head == "projection":
        assert out.shape == (4, 1)
        close(out, np.sum(np.asarray(D.out(features)) * c, axis=1, keepdims=True), atol=1e-4)
    elif head == "cmap":
        # ADA: the labels through their own mapping network (embed normalised alone, no z), 1/sqrt(cmap_dim) scale.
        assert out.shape == (4, 1) and D.cmap_dim == 16
        y = c @ D.mapping.embed.weight.numpy() / np.sqrt(5) + D.mapping.embed.bias.numpy()
        x = y / np.sqrt(np.mean(y**2, axis=1, keepdims=True) + 1e-8)
        for fc in D.mapping.fcs:
            x = x @ fc.weight.numpy() * (0.01 / np.sqrt(x.shape[1])) + fc.bias.numpy() * 0.01
            x = np.where(x > 0, x, 0.2 * x) * np.sqrt(2)
        close(out, np.sum(np.asarray(D.out(features)) * x, axis=1, keepdims=True) / 4.0, atol=1e-4)
    else:
        assert out.shape == (4, 1)
        close(out, D(img), atol=1e-6)  # c is ignored


def test_invalid_arguments():
    with pytest.raises(ValueError, match="architecture 'res'"):
        Discriminator(img_resolution=16, architecture="res")
    with pytest.raises(ValueError, match="head 'aux'"):
        Discriminator(img_resolution=16, head="aux")
    with pytest.raises(ValueError, match="needs c_dim >= 1"):
        Discriminator(img_resolution=16, head="multi_logit")
    with pytest.raises(ValueError, match="power of 2"):
        SynthesisNetwork(img_resolution=24)
    G = tiny_G(8)
    with pytest.raises(ValueError, match=r"ws has shape \(2, 3, 16\), expected \('N', 4, 16\)"):
        G.synthesis(randn(2, 3, 16))
    with pytest.raises(ValueError, match="2 noise tensors given, expected 3"):
        G.synthesis(randn(2, 4, 16), noise=[randn(2, 4, 4, 1)] * 2)
    D = tiny_D(8, c_dim=2, head="projection")
    with pytest.raises(ValueError, match="needs labels c"):
        D(randn(2, 8, 8, 3))


# === w_avg, truncation, style mixing, noise ===


def test_update_w_avg_formula():
    G = tiny_G(8)
    assert not G.w_avg.trainable and np.all(G.w_avg.numpy() == 0)
    assert "w_avg" not in str([v.path for v in G.trainable_weights])
    expected = np.zeros(16, np.float32)
    for _ in range(3):
        ws = randn(6, G.num_ws, 16)
        G.update_w_avg(ws)
        expected = ws[:, 0].mean(axis=0) + (expected - ws[:, 0].mean(axis=0)) * 0.995  # lerp(batch_avg, w_avg, beta)
    close(G.w_avg, expected, atol=1e-6)


def test_truncation():
    G = tiny_G(16)
    G.w_avg.assign(randn(16))
    w_avg = G.w_avg.numpy()
    ws = randn(3, G.num_ws, 16)
    close(G.truncate(ws, 0.0), np.broadcast_to(w_avg, ws.shape))
    close(G.truncate(ws, 0.7), w_avg + (ws - w_avg) * 0.7)
    cut = np.asarray(G.truncate(ws, 0.0, truncation_cutoff=2))
    close(cut[:, :2], np.broadcast_to(w_avg, (3, 2, 16)))
    close(cut[:, 2:], ws[:, 2:])
    assert G.truncate(ws, 1.0) is ws

    z = randn(3, 16)
    at_w_avg = G.synthesis(np.broadcast_to(w_avg, ws.shape), noise_mode="const")
    close(G(z, truncation_psi=0.0, noise_mode="const"), at_w_avg, atol=1e-5)
    close(G(z, noise_mode="const"), G.synthesis(G.mapping(z), noise_mode="const"), atol=1e-5)


def test_mix_styles():
    ws, ws2 = randn(2, 6, 4), randn(2, 6, 4)
    for cutoff in (0, 1, 4, 6):
        mixed = np.asarray(mix_styles(ws, ws2, tf.constant(cutoff)))
        close(mixed[:, :cutoff], ws[:, :cutoff])
        close(mixed[:, cutoff:], ws2[:, cutoff:])
    close(Generator.mix_styles(ws, ws2, 3), mix_styles(ws, ws2, 3))


def test_explicit_noise_equals_const_noise():
    G = tiny_G(16)
    perturb(G)  # noise strengths become nonzero
    ws = randn(2, G.num_ws, 16)
    noise = [np.broadcast_to(layer.noise_const.numpy()[None, :, :, None], (2, *shape, 1))
             for layer, shape in zip(G.synthesis.convs, G.synthesis.noise_shapes)]
    const = np.asarray(G.synthesis(ws, noise_mode="const"))
    close(G.synthesis(ws, noise=noise), const, atol=1e-5)
    close(G.synthesis(ws, noise=noise, noise_mode="none"), const, atol=1e-5)  # explicit noise wins
    assert not np.allclose(G.synthesis(ws, noise_mode="none"), const, atol=1e-3)


def test_fused_modconv_agrees():
    G = tiny_G(8)
    perturb(G)
    ws = randn(2, G.num_ws, 16)
    close(G.synthesis(ws, noise_mode="const", fused_modconv=True), G.synthesis(ws, noise_mode="const"), atol=1e-4)


# === Serialization ===


def test_generator_keras_round_trip(tmp_path):
    G = tiny_G(8, c_dim=3)
    perturb(G)
    z, c = randn(2, 16), randn(2, 3)
    expected = np.asarray(G(z, c, truncation_psi=0.5, noise_mode="const"))
    G.save(tmp_path / "G.keras")
    loaded = keras.saving.load_model(tmp_path / "G.keras")
    assert type(loaded) is Generator and loaded.get_config() == G.get_config()
    close(loaded(z, c, truncation_psi=0.5, noise_mode="const"), expected, atol=1e-6)
    close(loaded.w_avg, G.w_avg, atol=0)


@pytest.mark.parametrize("head", D_HEADS)
def test_discriminator_keras_round_trip(tmp_path, head):
    D = tiny_D(8, c_dim=3, head=head, architecture="skip", mbstd_group_size=2)
    perturb(D)
    img, c = randn(4, 8, 8, 3), randn(4, 3)
    expected = keras.tree.map_structure(np.asarray, D(img, c))
    D.save(tmp_path / "D.keras")
    loaded = keras.saving.load_model(tmp_path / "D.keras")
    assert type(loaded) is Discriminator and loaded.get_config() == D.get_config()
    keras.tree.map_structure(lambda a, b: close(a, b, atol=1e-6), loaded(img, c), expected)


def test_from_config_builds_the_same_weight_paths():
    G = tiny_G(16, architecture="resnet", init_mul=0.5)
    G_ema = Generator.from_config(G.get_config())
    G_ema.build()
    assert [(v.path, v.shape, v.trainable) for v in G_ema.weights] == [(v.path, v.shape, v.trainable) for v in G.weights]
    paths = [v.path for v in G.weights]
    for key in ("mapping/fc1/bias", "mapping/w_avg", "synthesis/b4.const/const", "synthesis/b8.conv0/affine/weight",
                "synthesis/b16.skip/weight", "synthesis/b16.torgb/weight"):
        assert f"{G.name}/{key}" in paths


# === tf.distribute ===


def test_w_avg_update_under_mirrored_strategy():
    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        G2 = tiny_G(8)
    G1 = tiny_G(8)

    @tf.function
    def distributed_update(ws):
        strategy.run(G2.update_w_avg, args=(ws,))

    for _ in range(2):
        ws = randn(8, G1.num_ws, 16)
        G1.update_w_avg(ws)
        halves = strategy.experimental_distribute_values_from_function(
            lambda ctx, ws=ws: tf.constant(ws[4 * ctx.replica_id_in_sync_group : 4 * (ctx.replica_id_in_sync_group + 1)])
        )
        distributed_update(halves)
    replicas = [v.numpy() for v in G2.w_avg.value.values]
    assert len(replicas) == 2
    for value in replicas:
        close(value, G1.w_avg, atol=1e-6)


def test_discriminator_features_of_each_image_alone():
    """mbstd_group_size=1: an image's features are those it has in a batch of its own (independent of the batch),
    while the network's group of 4 mixes the batch."""
    D = tiny_D(8)
    perturb(D)
    img = randn(8, 8, 8, 3)
    alone = np.concatenate([np.asarray(D.features(img[i:i + 1])) for i in range(8)])
    close(D.features(img, mbstd_group_size=1), alone, atol=1e-5)
    close(D.features(img[::-1], mbstd_group_size=1), alone[::-1], atol=1e-5)
    assert np.abs(np.asarray(D.features(img)) - alone).max() > 1e-3
