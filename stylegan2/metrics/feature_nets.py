"""Feature networks for the metrics: the 2015-12-05 Inception graph (FID, IS, PRD), VGG16 fc2 (precision/recall)
and LPIPS (PPL, the IMLE loss, projection).

Every network takes images NHWC with values in [0, 255] (uint8 or float tensors or arrays; 1-channel images are
tiled to 3) and returns float32. Weight files are found by `stylegan2.metrics.weights.resolve_weights`; each class
also has a constructor from in-memory weights, used by the tests with small stand-ins.
"""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import op_def_registry

from stylegan2.errors import UserError
from stylegan2.metrics.weights import resolve_weights


def _as_rgb(images, what="images"):
    """float32 [N,H,W,3] in [0,255] from uint8/float [N,H,W,1|3]."""
    x = tf.convert_to_tensor(images)
    if x.shape.rank != 4 or x.shape[-1] not in (1, 3):
        raise UserError(f"{what}: shape {x.shape.as_list() if x.shape.rank is not None else '?'}; "
                        f"expected NHWC [N,H,W,3] (or [N,H,W,1]) with values 0..255")
    x = tf.cast(x, tf.float32)
    return tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x


# === Inception 2015-12-05 (TTUR / NVIDIA / TF-GAN FID network) ===

class InceptionGraph:
    """The frozen `classify_image_graph_def.pb` of inception-2015-12-05.tgz, run natively as a TF2 function.

    Input contract (as TTUR fid.py feeds `FID_Inception_Net/ExpandDims:0`): float32 RGB images [N,H,W,3] of any size,
    values 0..255 (a uint8 image cast to float). The graph itself resizes them to 299x299 with its own
    `ResizeBilinear` op (TF1 legacy: align_corners=False, half_pixel_centers=False) and maps them to [-1,1] with
    `(x - 128) / 128` (`Sub`, `Mul`). NVIDIA's inception_v3_features.pkl is the same graph.

    The 2015 graph was built for one JPEG at a time: `ExpandDims` has a static batch of 1 and `pool_3/_reshape` is a
    Reshape to the constant [1, 2048]. TTUR patches the static shapes of every tensor in the session graph; here the
    images are fed through `import_graph_def(input_map={'ExpandDims:0': x})` with a [None,None,None,3] signature, so
    TensorFlow infers batch-free shapes on import, and the logits are recomputed from the graph's own
    `softmax/logits/MatMul` weights and `softmax/logits` bias on the reshaped pool instead of running the fixed
    Reshape. The graph's `BatchNormWithGlobalNormalization` ops (removed in GraphDef version 9, so a current
    TensorFlow refuses to run them) are rewritten into the same arithmetic first (`_modernize`).

    Returns {'pool': [N,2048] (`pool_3:0`), 'logits': [N,1008] (`softmax/logits:0`)}. With `output_bias=False` the
    logits leave out the bias, as openai/improved-gan's Inception Score and NVIDIA's IS (`no_output_bias`) do.
    """

    name = "inception-2015-12-05"
    comparable = True
    input_tensor = "ExpandDims:0"
    pool_tensor = "pool_3:0"
    matmul_op = "softmax/logits/MatMul"
    logits_op = "softmax/logits"
    dims = (2048, 1008)

    def __init__(self, path=None, output_bias=True):
        path = resolve_weights("inception", path)
        self._build(_read_graph_def(path), path, output_bias, self.dims)

    @classmethod
    def from_graph_def(cls, graph_def, source="<in-memory GraphDef>", output_bias=True, dims=dims):
        """From a parsed GraphDef; `dims` = expected (pool, logits) sizes, None to accept any."""
        net = cls.__new__(cls)
        net._build(graph_def, source, output_bias, dims)
        return net

    def _build(self, graph_def, source, output_bias, dims):
        hint = "use classify_image_graph_def.pb from inception-2015-12-05.tgz"
        names = {node.name for node in graph_def.node}
        needed = [self.input_tensor.split(":")[0], self.pool_tensor.split(":")[0], self.matmul_op, self.logits_op]
        missing = [n for n in needed if n not in names]
        if missing:
            raise UserError(f"{source}: not the 2015-12-05 Inception graph (no {', '.join(missing)}); {hint}")

        graph_def = _modernize(graph_def, source, hint)

        def run(images):
            pool, matmul, logits_op = tf.graph_util.import_graph_def(
                graph_def, input_map={self.input_tensor: images},
                return_elements=[self.pool_tensor, self.matmul_op, self.logits_op], name="inception")
            weights, bias = matmul.inputs[1], logits_op.inputs[1]
            features = tf.reshape(pool, [-1, weights.shape[0]])
            logits = tf.matmul(features, weights)
            return features, tf.nn.bias_add(logits, bias) if output_bias else logits

        try:
            fn = tf.compat.v1.wrap_function(run, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        except (ValueError, TypeError, tf.errors.OpError) as err:
            detail = str(err).splitlines()[0]
            raise UserError(f"{source}: cannot import the Inception graph ({detail}); {hint}") from None
        pool_shape, logits_shape = (t.shape.as_list() for t in fn.structured_outputs)
        pool_in = fn.graph.get_tensor_by_name("inception/" + self.pool_tensor).shape.as_list()
        if len(pool_in) != 4 or pool_in[1:3] != [1, 1] or (dims and (pool_shape[1], logits_shape[1]) != tuple(dims)):
            raise UserError(f"{source}: pool_3 has shape {pool_in} and logits {logits_shape}, expected "
                            f"[N,1,1,{dims[0] if dims else 'D'}] and [N,{dims[1] if dims else 'K'}]; {hint}")
        self._fn = fn
        self.source = source
        self.feature_dim, self.num_logits = pool_shape[1], logits_shape[1]

    def __call__(self, images):
        features, logits = self._fn(_as_rgb(images))
        return {"pool": features, "logits": logits}


def _modernize(graph_def, source, hint):
    """A copy of `graph_def` that runs in a current GraphDef version: each `BatchNormWithGlobalNormalization` (removed
    in GraphDef version 9; the 2015 graph uses it after every convolution) becomes the same arithmetic as its kernel,
    `x * s + (beta - mean * s)` with `s = rsqrt(var + eps) [* gamma]`, under the node's own name."""
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            out.node.add().CopyFrom(node)
            continue
        x, mean, var, beta, gamma = node.input
        dtype = node.attr["T"]
        name = node.name + "/_modern/"
        eps = out.node.add(name=name + "eps", op="Const")
        eps.attr["dtype"].type = dtype.type
        eps.attr["value"].tensor.CopyFrom(
            tf.make_tensor_proto(node.attr["variance_epsilon"].f, tf.dtypes.as_dtype(dtype.type)))
        ops = [("var_eps", "AddV2", [var, eps.name]), ("rsqrt", "Rsqrt", [name + "var_eps"])]
        scale = name + "rsqrt"
        if node.attr["scale_after_normalization"].b:
            ops.append(("scale", "Mul", [scale, gamma]))
            scale = name + "scale"
        ops += [("mean_scale", "Mul", [mean, scale]), ("offset", "Sub", [beta, name + "mean_scale"]),
                ("x_scale", "Mul", [x, scale])]
        for suffix, op, inputs in ops:
            new = out.node.add(name=name + suffix, op=op, input=inputs, device=node.device)
            new.attr["T"].CopyFrom(dtype)
        final = out.node.add(name=node.name, op="AddV2", input=[name + "x_scale", name + "offset"], device=node.device)
        final.attr["T"].CopyFrom(dtype)
    for op in sorted({node.op for node in out.node}):
        op_def = op_def_registry.get(op)
        removed = op_def is not None and op_def.HasField("deprecation")  # deprecated ops fail at the current version
        if op_def is None or removed:
            raise UserError(f"{source}: uses TensorFlow op {op}, which this TensorFlow cannot run; {hint}")
    return out


def _read_graph_def(path):
    graph_def = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph_def.ParseFromString(f.read())
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise UserError(f"{path}: not a TensorFlow GraphDef (.pb); use classify_image_graph_def.pb from "
                        f"inception-2015-12-05.tgz") from None
    return graph_def


# === keras.applications networks ===

def _load_keras_weights(model, path, name):
    try:
        model.load_weights(path)
    except Exception as err:  # noqa: BLE001 - h5py/Keras raise many types for a wrong or truncated file
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{path}: cannot load {name} weights ({detail}); use the keras.applications "
                        f"ImageNet file with top") from None
    return model


def _dense_logits(features, layer):
    return tf.matmul(features, tf.convert_to_tensor(layer.kernel)) + tf.convert_to_tensor(layer.bias)


class _KerasFeatureNet:
    """A feature network wrapping a keras.applications model; `from_model` takes a stand-in with the same layer
    names (tests): `avg_pool` and `predictions` for InceptionV3, `fc2` for VGG16."""

    @classmethod
    def from_model(cls, model):
        net = cls.__new__(cls)
        net._set(model)
        return net


class KerasInceptionV3(_KerasFeatureNet):
    """keras.applications.InceptionV3 (ImageNet, include_top). NOT the FID network of published results: other
    weights, 1000 classes, and its own preprocessing.

    Input contract: RGB NHWC 0..255 of any size, resized to 299x299 with `tf.image.resize` (bilinear, half-pixel
    centres), then `x / 127.5 - 1` (Keras' 'tf' preprocessing). Returns {'pool': [N,2048] (`avg_pool`),
    'logits': [N,1000] (the `predictions` layer before its softmax)}.
    """

    name = "keras-inception-v3 (NOT comparable with published FIDs)"
    comparable = False
    size = 299

    def __init__(self, path=None):
        path = resolve_weights("keras-inception-v3", path)
        model = keras.applications.InceptionV3(include_top=True, weights=None)
        self._set(_load_keras_weights(model, path, "InceptionV3"))

    def _set(self, model):
        self.model = model
        self._features = keras.Model(model.inputs, model.get_layer("avg_pool").output)
        self._head = model.get_layer("predictions")

    def __call__(self, images):
        x = tf.image.resize(_as_rgb(images), [self.size, self.size], method="bilinear")
        features = tf.cast(self._features(x / 127.5 - 1.0, training=False), tf.float32)
        return {"pool": features, "logits": _dense_logits(features, self._head)}


class VGG16Features(_KerasFeatureNet):
    """VGG16 fc2 features (4096-d, after ReLU), the embedding of Kynkäänniemi et al.'s precision/recall as in
    NVIDIA's metrics/precision_recall.py (vgg16.pkl).

    Weights: keras.applications.VGG16 ImageNet (`vgg16_weights_tf_dim_ordering_tf_kernels.h5`), converted from the
    original Oxford VGG Caffe release, which NVIDIA's vgg16.pkl also ports; the preprocessing differs (NVIDIA
    normalises RGB by torchvision's mean/std, Keras subtracts the Caffe BGR mean), so the numbers are close to but not
    identical with NVIDIA's: `comparable = False`.

    Input contract: RGB NHWC 0..255 of any size, resized to 224x224 with TF1's legacy bilinear resize
    (`tf.compat.v1.image.resize_bilinear`, align_corners=False) as NVIDIA's TF network does, then RGB->BGR minus the
    Caffe mean (103.939, 116.779, 123.68). Returns [N,4096].
    """

    name = "keras-vgg16-fc2 (close to, NOT identical with NVIDIA's vgg16.pkl)"
    comparable = False
    size = 224
    caffe_mean_bgr = (103.939, 116.779, 123.68)

    def __init__(self, path=None):
        path = resolve_weights("vgg16", path)
        model = keras.applications.VGG16(include_top=True, weights=None)
        self._set(_load_keras_weights(model, path, "VGG16"))

    def _set(self, model):
        self.model = model
        self._features = keras.Model(model.inputs, model.get_layer("fc2").output)

    def __call__(self, images):
        x = tf.raw_ops.ResizeBilinear(images=_as_rgb(images), size=[self.size, self.size], align_corners=False,
                                      half_pixel_centers=False)
        x = x[..., ::-1] - tf.constant(self.caffe_mean_bgr, tf.float32)
        return tf.cast(self._features(x, training=False), tf.float32)


# === LPIPS (Zhang et al. 2018, VGG16 v0.1) ===

VGG16_BLOCKS = (("conv1_1", "conv1_2"), ("conv2_1", "conv2_2"), ("conv3_1", "conv3_2", "conv3_3"),
                ("conv4_1", "conv4_2", "conv4_3"), ("conv5_1", "conv5_2", "conv5_3"))
VGG16_CONVS = tuple(name for block in VGG16_BLOCKS for name in block)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)  # PerceptualSimilarity ScalingLayer, for inputs in [-1,1]
LPIPS_SCALE = (0.458, 0.448, 0.450)


class LPIPS:
    """LPIPS distance, VGG16 variant v0.1 (richzhang/PerceptualSimilarity `lpips.LPIPS(net='vgg')`), with NVIDIA's
    `vgg16_zhang_perceptual` interface: `lpips(a, b)` for a, b NHWC in [0,255] -> [N] distances.

    a, b -> x/127.5 - 1 -> Zhang's ScalingLayer (x - shift) / scale -> torchvision VGG16 convs (3x3 'same', ReLU,
    2x2 max pools) -> relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 -> each unit-normalised over channels
    (x / (|x| + 1e-10)) -> squared difference -> 1x1 non-negative linear weights (v0.1 lin0..lin4, no bias) ->
    spatial mean -> sum over the five layers. No resize (like NVIDIA's use in PPL/projection, the caller downsamples).
    Differentiable w.r.t. both inputs; the weights are constants. A 1e-20 floor under the square root keeps the
    gradient finite where all channels are zero (values unchanged at float32 precision).
    """

    name = "lpips-vgg16-v0.1"
    comparable = True

    def __init__(self, path=None):
        path = resolve_weights("lpips", path)
        try:
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: cannot read LPIPS weights ({err}); re-create it with "
                            f"python -m stylegan2.metrics.convert_lpips") from None
        missing = [k for k in [f"{c}/{p}" for c in VGG16_CONVS for p in ("kernel", "bias")] +
                   [f"lin{i}" for i in range(5)] if k not in arrays]
        if missing:
            raise UserError(f"{path}: not an LPIPS weight file (missing {missing[0]}, ...); re-create it with "
                            f"python -m stylegan2.metrics.convert_lpips")
        self._set({c: (arrays[f"{c}/kernel"], arrays[f"{c}/bias"]) for c in VGG16_CONVS},
                  [arrays[f"lin{i}"] for i in range(5)], path)

    @classmethod
    def from_arrays(cls, vgg_weights, lin_weights, source="<in-memory arrays>"):
        """vgg_weights: {conv name: (kernel [3,3,in,out] HWIO, bias [out])} for the 13 VGG16_CONVS (or a list of 13
        pairs in that order); lin_weights: 5 arrays [C] (or [1,C,1,1] as in vgg.pth)."""
        if not isinstance(vgg_weights, dict):
            vgg_weights = dict(zip(VGG16_CONVS, vgg_weights))
        net = cls.__new__(cls)
        net._set(vgg_weights, lin_weights, source)
        return net

    def _set(self, vgg_weights, lin_weights, source):
        channels = []
        self._convs = []
        for block in VGG16_BLOCKS:
            convs = []
            for name in block:
                kernel, bias = (np.asarray(a, np.float32) for a in vgg_weights[name])
                if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or bias.shape != kernel.shape[3:]:
                    raise UserError(f"{source}: {name} kernel {kernel.shape} / bias {bias.shape}, expected "
                                    f"[3,3,in,out] / [out]")
                convs.append((tf.constant(kernel), tf.constant(bias)))
            channels.append(convs[-1][0].shape[-1])
            self._convs.append(convs)
        self._lins = []
        for i, (w, c) in enumerate(zip(lin_weights, channels)):
            w = np.asarray(w, np.float32).reshape(-1)
            if w.shape != (c,):
                raise UserError(f"{source}: lin{i} has {w.size} weights for {c} channels of relu{i + 1}")
            self._lins.append(tf.constant(w))
        self.source = source

    def features(self, images):
        """The five VGG16 ReLU maps (relu1_2 ... relu5_3) of images in [0,255]."""
        x = _as_rgb(images) / 127.5 - 1.0
        x = (x - tf.constant(LPIPS_SHIFT)) / tf.constant(LPIPS_SCALE)
        outputs = []
        for i, convs in enumerate(self._convs):
            if i:
                x = keras.ops.max_pool(x, pool_size=2, strides=2, padding="valid")
            for kernel, bias in convs:
                x = keras.ops.relu(keras.ops.conv(x, kernel, strides=1, padding="same") + bias)
            outputs.append(x)
        return outputs

    def __call__(self, a, b):
        a, b = _as_rgb(a, "LPIPS input a"), _as_rgb(b, "LPIPS input b")
        n = tf.shape(a)[0]
        total = 0.0
        for feats, lin in zip(self.features(tf.concat([a, b], axis=0)), self._lins):
            feats = feats / (tf.sqrt(tf.reduce_sum(tf.square(feats), axis=-1, keepdims=True) + 1e-20) + 1e-10)
            diff = tf.square(feats[:n] - feats[n:])
            total += tf.reduce_mean(tf.reduce_sum(diff * lin, axis=-1), axis=[1, 2])
        return total


# === Factory ===

FEATURE_NETWORKS = {
    "inception": InceptionGraph,
    "keras-inception-v3": KerasInceptionV3,
    "vgg16": VGG16Features,
    "lpips": LPIPS,
}


def load_feature_network(name, path=None):
    """'inception' (2015-12-05 graph), 'keras-inception-v3', 'vgg16' or 'lpips', with weights from `path` or the
    search of `resolve_weights`."""
    if name not in FEATURE_NETWORKS:
        raise UserError(f"unknown feature network {name!r}; available: {', '.join(FEATURE_NETWORKS)}")
    return FEATURE_NETWORKS[name](path)
