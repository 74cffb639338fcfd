"""`--arch acgan_dcgan`: the original's _netG_CIFAR10/_netD_CIFAR10 (and _netG/_netD) as Keras models, checked
against a NumPy forward pass written from PyTorch's layer definitions, the original's parameter counts and
initialisation, and the backbone's generator interface."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from acgan.dcgan import DCGANDiscriminator, DCGANGenerator, build_networks
from stylegan2.errors import UserError

# The original's layers (network.py), written out: (in, out, kernel, stride, padding, batch norm).
NETG_CIFAR10 = dict(fc=(110, 384), tconvs=[(384, 192, 4, 1, 0, True), (192, 96, 4, 2, 1, True),
                                           (96, 48, 4, 2, 1, True), (48, 3, 4, 2, 1, False)])
NETG = dict(fc=(110, 768), tconvs=[(768, 384, 5, 2, 0, True), (384, 256, 5, 2, 0, True), (256, 192, 5, 2, 0, True),
                                   (192, 64, 5, 2, 0, True), (64, 3, 8, 2, 0, False)])
NETD_CIFAR10 = dict(convs=[(3, 16, 3, 2, 1, False), (16, 32, 3, 1, 1, True), (32, 64, 3, 2, 1, True),
                           (64, 128, 3, 1, 1, True), (128, 256, 3, 2, 1, True), (256, 512, 3, 1, 1, True)],
                    flat=4 * 4 * 512)
NETD = dict(convs=[(3, 16, 3, 2, 1, False), (16, 32, 3, 1, 0, True), (32, 64, 3, 2, 1, True),
                   (64, 128, 3, 1, 0, True), (128, 256, 3, 2, 1, True), (256, 512, 3, 1, 0, True)], flat=13 * 13 * 512)


def torch_param_count(net, num_classes=10, channels=3):
    """Trainable parameters of the PyTorch module: conv weights (bias=False), batch-norm weight + bias, linears."""
    count = 0
    if "fc" in net:
        fan_in, units = net["fc"]
        count += fan_in * units + units
    for cin, cout, k, _, _, bn in net.get("tconvs", []) + net.get("convs", []):
        cin = channels if cin == 3 and "convs" in net else cin
        cout = channels if cout == 3 and "tconvs" in net else cout
        count += cin * cout * k * k + (2 * cout if bn else 0)
    if "flat" in net:
        count += (net["flat"] + 1) + (net["flat"] * num_classes + num_classes)
    return count


def n_params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize("resolution, G_net, D_net", [(32, NETG_CIFAR10, NETD_CIFAR10), (128, NETG, NETD)])
@pytest.mark.parametrize("channels", [3, 1])
def test_parameter_counts_equal_the_originals(resolution, G_net, D_net, channels):
    G = DCGANGenerator(z_dim=110, c_dim=10, img_resolution=resolution, img_channels=channels)
    D = DCGANDiscriminator(c_dim=10, img_resolution=resolution, img_channels=channels)
    G.build()
    D.build()
    assert n_params(G) == torch_param_count(G_net, channels=channels)
    assert n_params(D) == torch_param_count(D_net, channels=channels)
    assert D.feature_dim == D_net["flat"]


# === NumPy forward passes with PyTorch's definitions (NCHW) ===


def np_conv2d(x, w, stride, padding):
    """nn.Conv2d: x [N,Ci,H,W], w [Co,Ci,k,k]; zero padding on both sides, cross-correlation."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = w.shape[2]
    out_h = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], out_h, out_h))
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + stride * out_h:stride, j:j + stride * out_h:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def np_conv_transpose2d(x, w, stride, padding):
    """nn.ConvTranspose2d: x [N,Ci,H,W], w [Ci,Co,k,k]; out[y*s + i, x*s + j] += x[y, x] w[i, j], then `padding`
    rows and columns removed on every side."""
    n, _, h, _ = x.shape
    k = w.shape[2]
    full = (h - 1) * stride + k
    out = np.zeros((n, w.shape[1], full, full))
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + stride * h:stride, j:j + stride * h:stride] += np.einsum("nchw,co->nohw", x, w[:, :, i, j])
    return out[:, :, padding:full - padding, padding:full - padding]


def np_batch_norm_train(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]


def keras_weights(layer):
    return [np.asarray(w, np.float64) for w in layer.weights]


def test_generator_forward_equals_pytorchs_layers_in_numpy():
    G = DCGANGenerator(z_dim=110, c_dim=10, img_resolution=32, img_channels=1)
    G.build()
    rnd = np.random.RandomState(1)
    z = rnd.randn(4, 110).astype(np.float32)
    c = np.eye(10, dtype=np.float32)[[3, 0, 9, 3]]
    ws = np.asarray(G.mapping(z, c))
    # main.py: noise_[:, :num_classes] = class_onehot; the rest is the Gaussian z.
    np.testing.assert_array_equal(ws[:, 0, :10], c)
    np.testing.assert_array_equal(ws[:, 0, 10:], z[:, 10:])
    syn = G.synthesis
    kernel, bias = keras_weights(syn.fc1)
    x = (ws[:, 0].astype(np.float64) @ kernel + bias).reshape(4, 384, 1, 1)  # view(-1, 384, 1, 1), no activation
    for (_, _, _, stride, padding, bn), tconv, norm in zip(NETG_CIFAR10["tconvs"], syn.tconvs, syn.bns):
        w = keras_weights(tconv)[0].transpose(3, 2, 0, 1)  # Keras [k,k,out,in] -> PyTorch [in,out,k,k]
        x = np_conv_transpose2d(x, w, stride, padding)
        if bn:
            gamma, beta = keras_weights(norm)[:2]
            x = np.maximum(np_batch_norm_train(x, gamma, beta), 0)
        else:
            x = np.tanh(x)
    got = np.asarray(G(z, c, training=True), np.float64).transpose(0, 3, 1, 2)
    assert got.shape == (4, 1, 32, 32)
    np.testing.assert_allclose(got, x, atol=2e-5)


def test_discriminator_forward_equals_pytorchs_layers_in_numpy():
    D = DCGANDiscriminator(c_dim=10, img_resolution=32, img_channels=1)
    D.build()
    rnd = np.random.RandomState(2)
    img = rnd.uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32)
    dropout = [rnd.uniform(size=(4, *shape)).astype(np.float32) for shape in D.dropout_shapes]
    x = img.transpose(0, 3, 1, 2).astype(np.float64)
    for (_, _, _, stride, padding, bn), conv, norm, u in zip(NETD_CIFAR10["convs"], D.convs, D.bns, dropout):
        x = np_conv2d(x, keras_weights(conv)[0].transpose(3, 2, 0, 1), stride, padding)  # [k,k,in,out] -> [out,in,k,k]
        if bn:
            x = np_batch_norm_train(x, *keras_weights(norm)[:2])
        x = np.where(x > 0, x, 0.2 * x)
        x = x * (u.transpose(0, 3, 1, 2) >= 0.5) / 0.5  # nn.Dropout(0.5) with this keep mask
    flat = x.transpose(0, 2, 3, 1).reshape(4, -1)  # NHWC flattening (see acgan.dcgan)
    source = flat @ keras_weights(D.fc_dis)[0] + keras_weights(D.fc_dis)[1]
    classes = flat @ keras_weights(D.fc_aux)[0] + keras_weights(D.fc_aux)[1]
    got_source, got_classes = D(img, dropout=dropout, training=True)
    np.testing.assert_allclose(got_source, source, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_classes, classes, rtol=1e-4, atol=1e-4)
    # Without dropout uniforms: no dropout (inference).
    no_dropout, _ = D(img, training=True)
    assert not np.allclose(no_dropout, got_source)


def test_initialisation_is_the_originals():
    G, D = build_networks(32, 3, 10)
    for model in (G, D):
        for w in model.trainable_weights:
            v = np.asarray(w).ravel()
            if w.path.endswith("kernel") and ("conv" in w.path):  # utils.weights_init: Conv* ~ N(0, 0.02)
                assert abs(v.std() - 0.02) < 0.002 and abs(v.mean()) < 0.002, w.path
            elif w.path.endswith("gamma"):  # BatchNorm weight ~ N(1, 0.02)
                assert abs(v.mean() - 1) < 0.01 and 0.01 < v.std() < 0.03, w.path
            elif w.path.endswith("beta"):
                assert np.all(v == 0), w.path
            else:  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
                fan_in = {"fc1": 110, "fc_dis": 8192, "fc_aux": 8192}[w.path.split("/")[-2]]
                bound = 1 / np.sqrt(fan_in)
                assert np.abs(v).max() <= bound and (len(v) < 100 or np.abs(v).max() > 0.9 * bound), w.path


def test_generator_interface_and_keras_round_trip(tmp_path):
    G = DCGANGenerator(z_dim=16, c_dim=4, img_resolution=32, img_channels=3)
    G.build()
    assert (G.num_ws, G.w_dim, G.synthesis.noise_shapes, G.synthesis.img_resolution) == (1, 16, [], 32)
    z = np.random.RandomState(0).randn(3, 16).astype(np.float32)
    c = np.eye(4, dtype=np.float32)[[0, 1, 3]]
    ws = G.mapping(z, c)
    assert G.truncate(ws, 0.5) is ws  # no truncation in the original: a no-op
    G.update_w_avg(ws)
    np.testing.assert_array_equal(G(z, c, truncation_psi=0.5, noise=[]), G(z, c))
    G(z, c, training=True)  # moves the batch-norm averages away from their initial values
    path = str(tmp_path / "g.keras")
    G.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DCGANGenerator) and loaded.get_config() == G.get_config()
    np.testing.assert_allclose(loaded(z, c), G(z, c), atol=1e-6)
    clone = DCGANGenerator.from_config(G.get_config())
    clone.build()
    assert [w.path for w in clone.weights] == [w.path for w in G.weights]


def test_inference_uses_moving_averages_and_training_uses_batch_statistics():
    G = DCGANGenerator(z_dim=16, c_dim=4, img_resolution=32, img_channels=1)
    G.build()
    z = np.random.RandomState(0).randn(8, 16).astype(np.float32)
    c = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    one_by_one = np.concatenate([G(z[i:i + 1], c[i:i + 1]) for i in range(8)])
    np.testing.assert_allclose(one_by_one, G(z, c), atol=1e-6)  # an image depends on its own z and c alone
    batch = np.asarray(G(z, c, training=True))
    assert not np.allclose(batch[:1], G(z[:1], c[:1], training=True), atol=1e-3)  # batch statistics


def test_bad_sizes_are_one_line_errors():
    with pytest.raises(UserError, match="32x32 .* or 128x128 .* this dataset is 64x64"):
        build_networks(64, 3, 10)
    with pytest.raises(UserError, match="--nz 10: .* larger than the number of classes"):
        DCGANGenerator(z_dim=10, c_dim=10)


def test_one_device_equals_two_replicas():
    """Synchronized batch norm: two replicas normalise with the global batch's statistics."""
    from stylegan2.training.strategy import mirrored_strategy

    strategy = mirrored_strategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    G = DCGANGenerator(z_dim=16, c_dim=4, img_resolution=32, img_channels=1)
    G.build()
    with strategy.scope():
        G2 = DCGANGenerator.from_config(G.get_config())
        G2.build()
    for a, b in zip(G2.weights, G.weights):
        a.assign(b)
    z = np.random.RandomState(0).randn(8, 16).astype(np.float32)
    c = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    one = np.asarray(G(z, c, training=True))

    @tf.function
    def run(zs, cs):
        return strategy.run(lambda a, b: G2(a, b, training=True), args=(zs, cs))

    split = [strategy.experimental_distribute_values_from_function(lambda ctx, a=a: a[ctx.replica_id_in_sync_group
                                                                                      * 4:][:4]) for a in (z, c)]
    two = np.concatenate([np.asarray(t) for t in strategy.experimental_local_results(run(*split))])
    np.testing.assert_allclose(one, two, atol=1e-5)
