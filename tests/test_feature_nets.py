"""Feature networks and the digit classifier, offline, with small stand-in weights built here."""

import gzip
import io
import os
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.metrics import convert_lpips, digit_classifier, weights
from stylegan2.metrics.arithmetic import stacked_predictions
from stylegan2.metrics.feature_nets import (
    LPIPS,
    VGG16_BLOCKS,
    VGG16_CONVS,
    InceptionGraph,
    KerasInceptionV3,
    VGG16Features,
    load_feature_network,
)
from tests.fixtures import lpips_standin_arrays

S, D, K = 8, 6, 5  # stand-in Inception: input resized to SxS, pool_3 D-dim, K logits


@pytest.fixture(autouse=True)
def isolated_weights(tmp_path, monkeypatch):
    """No real cache, no weights dir, and a download that fails at once (counted)."""
    monkeypatch.setenv("STYLEGAN2_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("STYLEGAN2_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("STYLEGAN2_OFFLINE", raising=False)
    calls = []

    def no_network(url, timeout=None):
        calls.append(url)
        raise OSError("Name or service not known")

    monkeypatch.setattr(weights, "_download", no_network)
    return calls


def inception_standin(seed=0):
    """A GraphDef with the 2015-12-05 graph's tensor names and batch-1 structure (ExpandDims of one decoded JPEG,
    ResizeBilinear, (x-128)/128, conv, BatchNormWithGlobalNormalization, pool_3 [1,1,1,D], pool_3/_reshape to the
    constant [1,D], softmax/logits = xw_plus_b), written with an old producer version like the original."""
    rng = np.random.RandomState(seed)
    kernel, w, b = rng.randn(1, 1, 3, D), rng.randn(D, K), rng.randn(K)
    g = tf.Graph()
    with g.as_default():
        x = tf.io.decode_jpeg(tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents"), 3, name="DecodeJpeg")
        x = tf.expand_dims(tf.cast(x, tf.float32, name="Cast"), 0, name="ExpandDims")
        x = tf.raw_ops.ResizeBilinear(images=x, size=[S, S], name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        x = tf.nn.relu(tf.nn.conv2d(x, tf.constant(kernel, tf.float32), 1, "SAME"))
        pool = tf.nn.avg_pool2d(x, S, 1, "VALID", name="pool_3")
        flat = tf.reshape(pool, [1, D], name="pool_3/_reshape")
        with tf.name_scope("softmax"):
            logits = tf.compat.v1.nn.xw_plus_b(flat, tf.constant(w, tf.float32, name="weights"),
                                               tf.constant(b, tf.float32, name="biases"), name="logits")
        tf.nn.softmax(logits, name="softmax")
    graph_def = g.as_graph_def()
    bn = [rng.randn(D), rng.uniform(0.5, 2, D), rng.randn(D), rng.uniform(0.5, 2, D)]  # mean, var, beta, gamma
    _insert_global_batch_norm(graph_def, "Relu", bn, eps=1e-3)
    graph_def.versions.producer = 5  # the 2015 graph predates GraphDef version 9, which removed that op
    return graph_def, (kernel, w, b, bn)


def _insert_global_batch_norm(graph_def, before, params, eps):
    """Puts a BatchNormWithGlobalNormalization node (as after every conv of the 2015 graph) in front of `before`."""
    consumer = next(n for n in graph_def.node if n.name == before)
    names = []
    for suffix, value in zip(("mean", "variance", "beta", "gamma"), params):
        node = graph_def.node.add(name=f"conv/batchnorm/{suffix}", op="Const")
        node.attr["dtype"].type = tf.float32.as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(value, np.float32)))
        names.append(node.name)
    bn = graph_def.node.add(name="conv/batchnorm", op="BatchNormWithGlobalNormalization",
                            input=[consumer.input[0]] + names)
    bn.attr["T"].type = tf.float32.as_datatype_enum
    bn.attr["variance_epsilon"].f = eps
    bn.attr["scale_after_normalization"].b = True
    consumer.input[0] = bn.name


def inception_reference(images, params, bias=True):
    kernel, w, b, (mean, var, beta, gamma) = params
    x = ((images.astype(np.float64) - 128) / 128) @ kernel[0, 0]
    pool = np.maximum((x - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0).mean(axis=(1, 2))
    return pool, pool @ w + (b if bias else 0)


def test_inception_graph_from_pb_file_is_batchable(tmp_path, monkeypatch):
    graph_def, params = inception_standin()
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(graph_def.SerializeToString())
    monkeypatch.setattr(InceptionGraph, "dims", (D, K))
    net = load_feature_network("inception", str(path))
    images = np.random.RandomState(1).randint(0, 256, (5, S, S, 3)).astype(np.uint8)
    out = net(images)
    pool, logits = inception_reference(images, params)
    assert out["pool"].shape == (5, D) and out["logits"].shape == (5, K) and out["pool"].dtype == tf.float32
    np.testing.assert_allclose(out["pool"], pool, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-5, atol=1e-4)
    assert net.comparable and net.name == "inception-2015-12-05"
    assert net(tf.zeros([3, 13, 21, 1]))["pool"].shape == (3, D)  # any size (resized by the graph), gray tiled
    no_bias = InceptionGraph.from_graph_def(graph_def, dims=(D, K), output_bias=False)
    np.testing.assert_allclose(no_bias(images)["logits"], inception_reference(images, params, bias=False)[1],
                               rtol=1e-5, atol=1e-4)


def test_inception_graph_from_tgz_in_weights_dir(tmp_path, monkeypatch):
    graph_def, params = inception_standin()
    data = graph_def.SerializeToString()
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    with tarfile.open(weights_dir / "inception-2015-12-05.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("classify_image_graph_def.pb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("STYLEGAN2_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setattr(InceptionGraph, "dims", (D, K))
    images = np.full((2, S, S, 3), 200, np.uint8)
    np.testing.assert_allclose(InceptionGraph()(images)["pool"], inception_reference(images, params)[0], atol=1e-5)
    assert (weights_dir / "classify_image_graph_def.pb").is_file()


def test_inception_graph_validates_tensors(tmp_path):
    graph_def, _ = inception_standin()
    with pytest.raises(UserError, match=r"pool_3 has shape \[None, 1, 1, 6\].*expected \[N,1,1,2048\]"):
        InceptionGraph.from_graph_def(graph_def)  # the real graph's dims by default
    unknown = tf.compat.v1.GraphDef()
    unknown.CopyFrom(graph_def)
    next(n for n in unknown.node if n.name == "Relu").op = "NoSuchOp2015"
    with pytest.raises(UserError, match="uses TensorFlow op NoSuchOp2015"):
        InceptionGraph.from_graph_def(unknown, dims=(D, K))
    del graph_def.node[[n.name for n in graph_def.node].index("pool_3/_reshape"):]
    with pytest.raises(UserError, match="not the 2015-12-05 Inception graph .*softmax/logits"):
        InceptionGraph.from_graph_def(graph_def)
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff not a protobuf \x00" * 10)
    with pytest.raises(UserError, match="bad.pb: not a TensorFlow GraphDef"):
        InceptionGraph(str(bad))


@pytest.mark.parametrize("name", ["inception", "vgg16", "lpips"])
def test_missing_weights_one_line_says_where(name, tmp_path, isolated_weights):
    with pytest.raises(UserError) as err:
        load_feature_network(name)
    message = str(err.value)
    spec = weights.KNOWN_WEIGHTS[name]
    assert "\n" not in message and spec.filename in message and str(tmp_path / "cache") in message
    assert (spec.url or "vgg.pth") in message
    assert isolated_weights == ([spec.url] if spec.url else [])


def test_download_goes_to_cache_and_is_checked(tmp_path, monkeypatch):
    graph_def, _ = inception_standin()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("inception/classify_image_graph_def.pb")
        info.size = len(graph_def.SerializeToString())
        tar.addfile(info, io.BytesIO(graph_def.SerializeToString()))
    monkeypatch.setattr(weights, "_download", lambda url, timeout=None: buf.getvalue())
    path = weights.resolve_weights("inception")
    assert path == str(tmp_path / "cache" / "classify_image_graph_def.pb") and os.path.isfile(path)
    assert sorted(os.listdir(tmp_path / "cache")) == ["classify_image_graph_def.pb", "inception-2015-12-05.tgz"]
    with pytest.raises(UserError, match="md5"):
        weights.resolve_weights("vgg16")
    assert not os.path.exists(tmp_path / "cache" / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")


# === LPIPS ===

lpips_standin = lpips_standin_arrays


def numpy_lpips(a, b, vgg, lins):
    """Independent NumPy LPIPS (PerceptualSimilarity lpips.LPIPS(net='vgg'), v0.1, spatial average)."""
    def conv(x, kernel, bias):
        pad = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
        h, w = x.shape[1:3]
        return sum(pad[:, i:i + h, j:j + w] @ kernel[i, j] for i in range(3) for j in range(3)) + bias

    def feats(x):
        x = (x / 127.5 - 1 - np.array([-.030, -.088, -.188])) / np.array([.458, .448, .450])
        out = []
        for i, block in enumerate(VGG16_BLOCKS):
            if i:
                n, h, w, c = x.shape
                x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
            for name in block:
                x = np.maximum(conv(x, *vgg[name]), 0)
            out.append(x)
        return out

    total = 0
    for fa, fb, lin in zip(feats(a.astype(np.float64)), feats(b.astype(np.float64)), lins):
        fa = fa / (np.sqrt((fa ** 2).sum(-1, keepdims=True)) + 1e-10)
        fb = fb / (np.sqrt((fb ** 2).sum(-1, keepdims=True)) + 1e-10)
        total = total + (((fa - fb) ** 2) @ lin).mean(axis=(1, 2))
    return total


def test_lpips_matches_numpy_and_is_differentiable():
    vgg, lins = lpips_standin()
    lpips = LPIPS.from_arrays(vgg, lins)
    rng = np.random.RandomState(2)
    a, b = rng.uniform(0, 255, (3, 20, 20, 3)), rng.uniform(0, 255, (3, 20, 20, 3))
    got = lpips(tf.constant(a, tf.float32), tf.constant(b, tf.float32))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, numpy_lpips(a, b, vgg, lins), rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(lpips(a, a), 0, atol=1e-6)
    x = tf.Variable(a, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(lpips(x, tf.constant(b, tf.float32)))
    grad = tape.gradient(loss, x)
    assert grad is not None and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    with tf.GradientTape() as tape:
        same = tf.reduce_sum(lpips(x, tf.constant(a, tf.float32)))
    assert np.all(np.isfinite(tape.gradient(same, x)))


def test_lpips_npz_from_converter_loads(tmp_path):
    vgg, lins = lpips_standin()
    vgg_state = {}
    for name, index in zip(VGG16_CONVS, convert_lpips.TORCHVISION_CONV_INDICES):
        vgg_state[f"features.{index}.weight"] = np.transpose(vgg[name][0], (3, 2, 0, 1))  # torch OIHW
        vgg_state[f"features.{index}.bias"] = vgg[name][1]
    lin_state = {f"lin{i}.model.1.weight": w.reshape(1, -1, 1, 1) for i, w in enumerate(lins)}
    path = tmp_path / "lpips_vgg16_v0.1.npz"
    convert_lpips.save_npz(convert_lpips.convert(lin_state, vgg_state), str(path))
    a, b = np.zeros((1, 16, 16, 3), np.uint8), np.full((1, 16, 16, 1), 255, np.uint8)
    np.testing.assert_allclose(load_feature_network("lpips", str(path))(a, b), LPIPS.from_arrays(vgg, lins)(a, b),
                               rtol=1e-6)
    with pytest.raises(UserError, match="no lin0.model.1.weight"):
        convert_lpips.convert({}, vgg_state)


# === keras.applications wrappers (stand-in models with the same layer names) ===

def test_keras_inception_v3_wrapper():
    L = keras.layers
    inp = keras.Input((299, 299, 3))
    pool = L.GlobalAveragePooling2D(name="avg_pool")(L.Conv2D(7, 3, strides=16)(inp))
    net = KerasInceptionV3.from_model(keras.Model(inp, L.Dense(4, activation="softmax", name="predictions")(pool)))
    out = net(np.random.RandomState(0).randint(0, 256, (2, 32, 40, 3)).astype(np.uint8))
    assert out["pool"].shape == (2, 7) and out["logits"].shape == (2, 4) and not net.comparable
    np.testing.assert_allclose(tf.nn.softmax(out["logits"]).numpy().sum(axis=1), 1, rtol=1e-5)
    assert "NOT comparable" in net.name


def test_vgg16_features_wrapper():
    L = keras.layers
    inp = keras.Input((224, 224, 3))
    x = L.Flatten()(L.Conv2D(2, 3, strides=32)(inp))
    net = VGG16Features.from_model(keras.Model(inp, L.Dense(5, activation="relu", name="fc2")(L.Dense(3)(x))))
    out = net(tf.fill([3, 32, 32, 1], 100.0))
    assert out.shape == (3, 5) and out.dtype == tf.float32
    with pytest.raises(UserError, match="expected NHWC"):
        net(np.zeros((3, 32, 32)))


# === Digit classifier ===

def write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def synthetic_mnist(num, seed=0):
    """Digit k is a bright 6x6 square at one of 10 positions, with noise."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, num)
    images = rng.randint(0, 40, (num, 28, 28))
    for img, k in zip(images, labels):
        r, c = 3 + (k // 5) * 12, 2 + (k % 5) * 5
        img[r:r + 6, c:c + 6] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def test_digit_classifier_cli_saves_and_classifies_stacked(tmp_path, capsys):
    images, labels = synthetic_mnist(300)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 2051)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 2049)
    output = tmp_path / "clf.keras"
    acc = digit_classifier.main(["--mnist-dir", str(tmp_path), "--split", "test", "--holdout", "60", "--epochs", "2",
                                 "--output", str(output)])
    printed = capsys.readouterr().out
    assert "training on 240, holding out 60" in printed and "held-out accuracy:" in printed and 0 <= acc <= 1
    assert sorted(p.name for p in tmp_path.iterdir() if "clf" in p.name) == ["clf.keras"]
    classifier = digit_classifier.load_classifier(str(output))
    stacked = np.stack([np.pad(images[i:i + 4], [(0, 0), (2, 2), (2, 2)]) for i in range(3)], axis=-1) / 127.5 - 1
    preds = digit_classifier.classify_stacked(classifier, stacked)
    assert preds.shape == (4, 3) and preds.dtype == np.int64 and preds.min() >= 0 and preds.max() <= 9
    np.testing.assert_array_equal(digit_classifier.classify_stacked(str(output), stacked), preds)
    digits, confidence = digit_classifier.predict_stacked(classifier, stacked)
    logits = np.asarray(classifier(((stacked[:, 2:-2, 2:-2, 1:2] + 1) / 2).astype(np.float32), training=False))
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)  # channel 1 (green) of each image, by hand
    np.testing.assert_array_equal(digits, preds)
    np.testing.assert_allclose(confidence[:, 1], softmax.max(1), rtol=1e-5)
    modes = preds[:, 0] + 10 * preds[:, 1] + 100 * preds[:, 2]
    np.testing.assert_array_equal(stacked_predictions(preds), modes)
    with pytest.raises(UserError, match="digit classifier not found"):
        digit_classifier.load_classifier(str(tmp_path / "missing.keras"))


def test_digit_classifier_reads_create_mnist_dataset(tmp_path):
    from stylegan2.dataset_tool.mnist import create_mnist

    images, labels = synthetic_mnist(50, seed=3)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 2051)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 2049)
    create_mnist(str(tmp_path / "mnist_tfr"), str(tmp_path), split="test")
    digits, classes = digit_classifier.load_digits(dataset=str(tmp_path / "mnist_tfr"))
    assert sorted(zip(classes.tolist(), map(bytes, digits))) == sorted(zip(labels.tolist(), map(bytes, images)))
