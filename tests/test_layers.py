"""stylegan2.layers: serialization round trips, equalized learning rate, styles, noise, minibatch std."""

import inspect
import json
import math

import keras
import numpy as np
import pytest

from stylegan2.layers import (
    ConstantInput,
    Conv2dLayer,
    FullyConnected,
    MinibatchStdLayer,
    PixelNorm,
    SynthesisLayer,
    ToRGBLayer,
)
from stylegan2.ops import bias_act, conv2d_resample, modulated_conv2d, setup_filter

RNG = np.random.default_rng(0)
BASE_CONFIG_KEYS = set(keras.layers.Layer().get_config())


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-5, atol=atol)


def json_round_trip(obj):
    return json.loads(json.dumps(obj))


def assert_layer_roundtrip(
    tmp_path,
    layer_cls,
    init_kwargs,
    inputs,                                 # List of NumPy arrays, the positional call arguments.
    expected_output_shape,                  # With the batch size of `inputs`.
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    call_kwargs=None,                       # Non-tensor call arguments.
):
    """keras-hub's `run_layer_test` in small: config round trips, a symbolic and an eager call, a `.keras` round trip."""
    call_kwargs = call_kwargs or {}

    # Config: exactly the constructor arguments, JSON-able, and `from_config` rebuilds the same layer.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    constructor_args = set(inspect.signature(layer_cls.__init__).parameters) - {"self", "kwargs"} - BASE_CONFIG_KEYS
    assert set(config) - BASE_CONFIG_KEYS == constructor_args
    assert json_round_trip({k: config[k] for k in init_kwargs}) == json_round_trip(init_kwargs)
    restored = layer_cls.from_config(json_round_trip(config))
    assert json_round_trip(restored.get_config()) == json_round_trip(config)
    serialized = json_round_trip(keras.saving.serialize_keras_object(layer))
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is layer_cls
    assert json_round_trip(deserialized.get_config()) == json_round_trip(config)

    # Symbolic call (batch size unknown), then a functional model around it.
    symbolic_inputs = [keras.Input(shape=x.shape[1:]) for x in inputs]
    symbolic_output = layer(*symbolic_inputs, **call_kwargs)
    assert isinstance(symbolic_output, keras.KerasTensor)
    assert tuple(symbolic_output.shape) == (None,) + tuple(expected_output_shape[1:])
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    model = keras.Model(symbolic_inputs, symbolic_output)

    # Perturb every weight, so zero-initialised ones (biases, noise_strength) also take part in the round trip.
    for variable in layer.weights:
        variable.assign(variable.numpy() + randn(*variable.shape) * 0.1)
    output = np.asarray(model(inputs))
    assert output.shape == tuple(expected_output_shape)
    close(layer(*inputs, **call_kwargs), output)

    # `.keras` round trip with equal outputs.
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.get_layer(layer.name)) is layer_cls
    close(reloaded(inputs), output, atol=1e-6)


# === Round trips of every layer ===


def test_fully_connected_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        FullyConnected,
        dict(units=5, activation="lrelu", lr_multiplier=0.01, bias=True, bias_init=0.5, init_mul=0.7),
        [randn(2, 8)],
        expected_output_shape=(2, 5),
        expected_num_trainable_weights=2,
    )


def test_conv2d_layer_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        Conv2dLayer,
        dict(filters=4, kernel_size=3, activation="lrelu", down=2, resample_filter=[1, 3, 3, 1], clamp=256.0),
        [randn(2, 8, 8, 3)],
        expected_output_shape=(2, 4, 4, 4),
        expected_num_trainable_weights=2,
    )


def test_conv2d_layer_skip_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        Conv2dLayer,
        dict(filters=4, kernel_size=1, bias=False, up=2, init_mul=0.5),
        [randn(2, 4, 4, 3)],
        expected_output_shape=(2, 8, 8, 4),
        expected_num_trainable_weights=1,
    )


def test_synthesis_layer_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        SynthesisLayer,
        dict(filters=6, w_dim=16, resolution=8, up=2, noise_mode="const", init_mul=0.8, clamp=256.0, seed=1),
        [randn(2, 4, 4, 5), randn(2, 16)],
        expected_output_shape=(2, 8, 8, 6),
        expected_num_trainable_weights=5,  # affine weight and bias, weight, noise_strength, bias
        expected_num_non_trainable_weights=1,  # noise_const
    )


def test_synthesis_layer_roundtrip_with_call_override(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        SynthesisLayer,
        dict(filters=3, w_dim=4, resolution=4),
        [randn(2, 4, 4, 2), randn(2, 4)],
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=5,
        expected_num_non_trainable_weights=1,
        call_kwargs=dict(noise_mode="none"),
    )


def test_to_rgb_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        ToRGBLayer,
        dict(channels=3, w_dim=16, init_mul=0.5),
        [randn(2, 4, 4, 5), randn(2, 16)],
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=4,  # affine weight and bias, weight, bias
    )


def test_minibatch_std_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        MinibatchStdLayer,
        dict(group_size=2, num_channels=2),
        [randn(4, 4, 4, 6)],
        expected_output_shape=(4, 4, 4, 8),
        expected_num_trainable_weights=0,
    )


def test_constant_input_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path,
        ConstantInput,
        dict(channels=8, size=4),
        [randn(3, 16)],
        expected_output_shape=(3, 4, 4, 8),
        expected_num_trainable_weights=1,
    )


def test_pixel_norm_roundtrip(tmp_path):
    assert_layer_roundtrip(
        tmp_path, PixelNorm, {}, [randn(3, 16)], expected_output_shape=(3, 16), expected_num_trainable_weights=0
    )


# === Equalized learning rate ===


@pytest.mark.parametrize("lr_multiplier, init_mul", [(1.0, 1.0), (0.01, 1.0), (1.0, 0.5)])
def test_fully_connected_equalized_lr(lr_multiplier, init_mul):
    layer = FullyConnected(256, lr_multiplier=lr_multiplier, bias_init=0.5, init_mul=init_mul)
    x = randn(3, 64)
    y = np.asarray(layer(x))
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert weight.std() == pytest.approx(init_mul / lr_multiplier, rel=0.03)
    close(bias * lr_multiplier, np.full(256, 0.5))  # effective bias starts at bias_init
    close(y, x @ weight * (lr_multiplier / math.sqrt(64)) + 0.5, atol=1e-4)
    close(layer(np.zeros((1, 64), np.float32)), np.full((1, 256), 0.5))


def test_fully_connected_activation_and_no_bias():
    layer = FullyConnected(4, activation="lrelu", bias=False)
    x = randn(2, 9)
    y = np.asarray(layer(x))
    assert layer.bias is None and len(layer.trainable_weights) == 1
    z = x @ layer.weight.numpy() / 3
    close(y, np.where(z > 0, z, 0.2 * z) * math.sqrt(2))


@pytest.mark.parametrize("kernel_size, up, down", [(3, 1, 1), (3, 1, 2), (1, 2, 1), (1, 1, 2)])
def test_conv2d_layer_equalized_lr(kernel_size, up, down):
    lr_multiplier = 0.5
    layer = Conv2dLayer(32, kernel_size, activation="lrelu", up=up, down=down, lr_multiplier=lr_multiplier)
    x = randn(2, 8, 8, 16)
    y = layer(x)
    weight = layer.weight.numpy()
    layer.bias.assign(randn(32))
    assert weight.std() == pytest.approx(1 / lr_multiplier, rel=0.1)
    gain = lr_multiplier / math.sqrt(kernel_size * kernel_size * 16)
    expected = conv2d_resample(x, weight * gain, setup_filter([1, 3, 3, 1]), up=up, down=down)
    expected = bias_act(expected, layer.bias.numpy() * lr_multiplier, "lrelu")
    close(layer(x), np.asarray(expected), atol=1e-4)
    assert y.shape == (2, 8 * up // down, 8 * up // down, 32)


def test_layers_reject_unknown_activation():
    with pytest.raises(ValueError, match="Unknown activation"):
        FullyConnected(4, activation="gelu")


# === Synthesis layers ===


def test_styles_start_at_one():
    layer = SynthesisLayer(4, w_dim=8, resolution=4)
    layer(randn(2, 4, 4, 3), randn(2, 8))
    close(layer.affine(np.zeros((2, 8), np.float32)), np.ones((2, 3)))
    assert layer.affine.weight.shape == (8, 3)
    assert layer.weight.numpy().std() == pytest.approx(1.0, rel=0.5)


def test_synthesis_layer_matches_ops():
    layer = SynthesisLayer(6, w_dim=8, resolution=8, up=2, noise_mode="none")
    x, w = randn(2, 4, 4, 5), randn(2, 8)
    layer(x, w)
    layer.bias.assign(randn(6))
    styles = np.asarray(layer.affine(w))
    weight = layer.weight.numpy() / math.sqrt(3 * 3 * 5)
    expected = modulated_conv2d(x, weight, styles, up=2, resample_filter=setup_filter([1, 3, 3, 1]))
    close(layer(x, w), np.asarray(bias_act(expected, layer.bias.numpy(), "lrelu")), atol=1e-5)
    close(layer(x, w, fused_modconv=True), np.asarray(layer(x, w)), atol=1e-5)


def test_noise_strength_and_modes():
    layer = SynthesisLayer(4, w_dim=8, resolution=8, activation="linear", seed=3)
    x, w = randn(2, 8, 8, 3), randn(2, 8)
    clean = np.asarray(layer(x, w, noise_mode="none"))
    assert layer.noise_strength.numpy() == 0
    assert len(layer.trainable_weights) == 5 and layer.noise_const.shape == (8, 8)
    for mode in ("random", "const"):
        close(layer(x, w, noise_mode=mode), clean)  # strength 0: noise has no effect yet

    layer.noise_strength.assign(0.7)
    close(layer(x, w, noise_mode="none"), clean)
    close(layer(x, w, noise_mode="const") - clean, 0.7 * np.broadcast_to(layer.noise_const.numpy()[None, :, :, None], clean.shape))
    noise = randn(2, 8, 8, 1)
    close(layer(x, w, noise=noise) - clean, 0.7 * np.broadcast_to(noise, clean.shape))

    first, second = layer(x, w), layer(x, w)  # constructor default: 'random'
    assert not np.allclose(first, second)
    drawn = (np.asarray(first) - clean) / 0.7
    close(drawn, np.broadcast_to(drawn[..., :1], drawn.shape), atol=1e-4)  # one [N,H,W,1] map for all channels
    assert abs(drawn[..., 0].mean()) < 0.5 and drawn[..., 0].std() == pytest.approx(1.0, rel=0.4)


def test_random_noise_is_seeded():
    x, w = randn(2, 4, 4, 3), randn(2, 8)
    a, b = (SynthesisLayer(4, w_dim=8, resolution=4, seed=11) for _ in range(2))
    a(x, w), b(x, w)
    b.set_weights(a.get_weights())
    for layer in (a, b):
        layer.noise_strength.assign(1.0)
    close(a(x, w), np.asarray(b(x, w)))
    # The generator's int state is a variable of the layer, but not one of its weights (EMA and importers zip weights).
    assert "noise_seed" in str([v.path for v in a.non_trainable_variables])
    assert "noise_seed" not in str([v.path for v in a.weights])


def test_synthesis_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="noise_mode"):
        SynthesisLayer(4, w_dim=8, resolution=4, noise_mode="fixed")
    layer = SynthesisLayer(4, w_dim=8, resolution=4)
    with pytest.raises(ValueError, match="w_dim=8"):
        layer(randn(2, 4, 4, 3), randn(2, 6))
    with pytest.raises(ValueError, match="resolution=4"):
        SynthesisLayer(4, w_dim=8, resolution=4, up=2)(randn(2, 4, 4, 3), randn(2, 8))
    layer(randn(2, 4, 4, 3), randn(2, 8))
    with pytest.raises(ValueError, match="noise_mode"):
        layer(randn(2, 4, 4, 3), randn(2, 8), noise_mode="fixed")


def test_to_rgb_matches_numpy():
    layer = ToRGBLayer(3, w_dim=8)
    x, w = randn(2, 4, 4, 5), randn(2, 8)
    layer(x, w)
    layer.bias.assign(randn(3))
    styles = np.asarray(layer.affine(w))  # [NI]
    weight = layer.weight.numpy()[0, 0] / math.sqrt(5)  # [IO]
    expected = np.einsum("nhwi,ni,io->nhwo", x, styles, weight) + layer.bias.numpy()  # no demodulation, linear
    close(layer(x, w), expected, atol=1e-5)
    close(layer(x, w, fused_modconv=True), expected, atol=1e-5)


def test_constant_input():
    layer = ConstantInput(64)
    y = np.asarray(layer(randn(3, 16)))
    const = layer.const.numpy()
    assert y.shape == (3, 4, 4, 64) and const.std() == pytest.approx(1.0, rel=0.1)
    close(y, np.broadcast_to(const, y.shape))


def test_pixel_norm():
    x = randn(3, 16)
    close(PixelNorm()(x), x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + 1e-8))


# === Minibatch standard deviation ===


def np_minibatch_std(x, group_size, num_channels):
    """ADA's recipe, one group at a time: sample i is in group i mod (N / G)."""
    N, H, W, C = x.shape
    G = N if group_size is None else min(group_size, N)
    groups, c = N // G, C // num_channels
    stds = np.zeros((N, H, W, num_channels))
    for j in range(groups):
        members = np.arange(j, N, groups)
        for f in range(num_channels):
            y = x[members][..., f * c : (f + 1) * c].astype(np.float64)
            stds[members, :, :, f] = np.sqrt(y.var(axis=0) + 1e-8).mean()
    return np.concatenate([x, stds], axis=-1)


@pytest.mark.parametrize(
    "batch_size, group_size, num_channels",
    [(8, 4, 1), (8, 4, 2), (6, None, 1), (4, 8, 1), (6, 6, 2), (2, 2, 1)],
)
def test_minibatch_std_matches_numpy(batch_size, group_size, num_channels):
    x = randn(batch_size, 3, 3, 4)
    close(MinibatchStdLayer(group_size, num_channels)(x), np_minibatch_std(x, group_size, num_channels), atol=1e-5)


def test_minibatch_std_dynamic_batch():
    layer = MinibatchStdLayer(group_size=4)
    model = keras.Model(inputs := keras.Input((3, 3, 4)), layer(inputs))
    x = randn(8, 3, 3, 4)
    close(model.predict(x, batch_size=8, verbose=0), np_minibatch_std(x, 4, 1), atol=1e-5)


def test_minibatch_std_rejects_indivisible_batch():
    with pytest.raises(ValueError, match="batch size 6 is not divisible by the group size 4"):
        MinibatchStdLayer(group_size=4)(randn(6, 3, 3, 4))
    with pytest.raises(ValueError, match="num_channels=3"):
        MinibatchStdLayer(num_channels=3)(randn(4, 3, 3, 4))


def test_minibatch_std_group_size_of_one_call():
    """A call's own group size (D features per image, e.g. for clustering) against the NumPy recipe; 0 keeps the
    layer's."""
    layer = MinibatchStdLayer(group_size=4)
    x = randn(8, 3, 3, 4)
    close(layer(x, group_size=1), np_minibatch_std(x, 1, 1), atol=1e-5)
    close(layer(x, group_size=2), np_minibatch_std(x, 2, 1), atol=1e-5)
    close(layer(x, group_size=0), np_minibatch_std(x, 4, 1), atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x, group_size=1))[..., -1], 1e-4, rtol=1e-3)  # sqrt(1e-8)
