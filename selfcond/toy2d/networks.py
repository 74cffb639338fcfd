"""The 2D study's networks (2d_mix/models/cluster.py), with PyTorch's initialisation and BatchNorm semantics.

G: [z (z_dim) ++ e(y) / ||e(y)||_2 (embed 32)] -> 4 x (Linear 400, BatchNorm1d, ReLU) -> Linear 2.
D: 3 x Maxout (Linear to act_dim * 5, max over each group of 5) -> the "mask" head: Linear(act_dim, k), then the
   logit of the input's own cluster (gan_training/models/blocks.py LinearConditionalMaskLogits).
   Its features (what the clusterer sees) are the third Maxout layer's output, [N, act_dim].

PyTorch defaults kept because they set the training dynamics: Linear weights and biases U(-1/sqrt(fan_in),
1/sqrt(fan_in)); Embedding N(0, 1) (the norm of the embedding scales the gradient of its direction);
BatchNorm1d eps 1e-5, momentum 0.1, running variance updated with the unbiased batch variance.
"""

import keras
import numpy as np
from keras import ops

PACKAGE = "selfcond"


def _uniform(fan_in, seed):
    bound = 1.0 / np.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound, seed=seed)


def torch_dense(units, fan_in, seed, name):
    """keras Dense initialised as torch.nn.Linear (kaiming_uniform a=sqrt(5) -> U(+-1/sqrt(fan_in)), bias alike)."""
    return keras.layers.Dense(units, kernel_initializer=_uniform(fan_in, seed),
                              bias_initializer=_uniform(fan_in, seed + 1), name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LabelEmbeddingConcat(keras.layers.Layer):
    """[z, y] -> concat(z, e_y / ||e_y||_2): blocks.LatentEmbeddingConcat (label embedding on the unit sphere)."""

    def __init__(self, num_labels, embed_dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.embed_dim = embed_dim
        self.seed = seed

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.num_labels, self.embed_dim), name="embeddings",
                                          initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=self.seed))

    def call(self, inputs):
        z, y = inputs
        e = ops.take(self.embeddings, ops.cast(y, "int32"), axis=0)
        e = e / ops.sqrt(ops.sum(e * e, axis=1, keepdims=True))
        return ops.concatenate([z, e], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][1] + self.embed_dim)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "embed_dim": self.embed_dim,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchNorm1d(keras.layers.Layer):
    """torch.nn.BatchNorm1d: training normalises with the batch mean and biased variance and moves the running
    stats by `momentum` towards the batch mean and *unbiased* variance; inference uses the running stats."""

    def __init__(self, momentum=0.1, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon

    def build(self, input_shape):
        dim = (input_shape[-1],)
        self.gamma = self.add_weight(shape=dim, name="gamma", initializer="ones")
        self.beta = self.add_weight(shape=dim, name="beta", initializer="zeros")
        self.moving_mean = self.add_weight(shape=dim, name="moving_mean", initializer="zeros", trainable=False)
        self.moving_var = self.add_weight(shape=dim, name="moving_var", initializer="ones", trainable=False)

    def call(self, x, training=False):
        if training:
            mean = ops.mean(x, axis=0)
            var = ops.var(x, axis=0)
            n = ops.cast(ops.shape(x)[0], x.dtype)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)
            self.moving_var.assign(self.moving_var * (1.0 - m) + var * (n / (n - 1.0)) * m)
        else:
            mean, var = self.moving_mean, self.moving_var
        return (x - mean) * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Maxout(keras.layers.Layer):
    """Linear(fan_in -> units * pool) then the max over each consecutive group of `pool` outputs [N, units]."""

    def __init__(self, units, pool=5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.pool = pool
        self.seed = seed

    def build(self, input_shape):
        fan_in = input_shape[-1]
        seed = 0 if self.seed is None else self.seed
        self.kernel = self.add_weight(shape=(fan_in, self.units * self.pool), name="kernel",
                                      initializer=_uniform(fan_in, seed))
        self.bias = self.add_weight(shape=(self.units * self.pool,), name="bias", initializer=_uniform(fan_in, seed + 1))

    def call(self, x):
        out = ops.matmul(x, self.kernel) + self.bias
        return ops.max(ops.reshape(out, (-1, self.units, self.pool)), axis=2)  # torch: view(N, units, pool).max(2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pool": self.pool, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskLogits(keras.layers.Layer):
    """[h, y] -> Linear(h)[i, y_i]: one real/fake logit per cluster, the input's own one picked [N]."""

    def __init__(self, num_labels, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_labels = num_labels
        self.seed = seed

    def build(self, input_shape):
        fan_in = input_shape[0][-1]
        seed = 0 if self.seed is None else self.seed
        self.kernel = self.add_weight(shape=(fan_in, self.num_labels), name="kernel", initializer=_uniform(fan_in, seed))
        self.bias = self.add_weight(shape=(self.num_labels,), name="bias", initializer=_uniform(fan_in, seed + 1))

    def call(self, inputs):
        h, y = inputs
        logits = ops.matmul(h, self.kernel) + self.bias  # [N, k]
        return ops.take_along_axis(logits, ops.cast(y, "int32")[:, None], axis=1)[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "seed": self.seed}


def build_generator(num_labels, z_dim=2, embed_dim=32, act_dim=400, x_dim=2, seed=0):
    """keras.Model([z [N, z_dim], y [N] int]) -> x [N, x_dim]."""
    z = keras.Input((z_dim,), name="z")
    y = keras.Input((), dtype="int32", name="y")
    h = LabelEmbeddingConcat(num_labels, embed_dim, seed=seed, name="embedding")([z, y])
    fan_in = z_dim + embed_dim
    for i in range(1, 5):
        h = torch_dense(act_dim, fan_in, seed + 10 * i, name=f"fc{i}")(h)
        h = BatchNorm1d(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
        fan_in = act_dim
    x = torch_dense(x_dim, act_dim, seed + 50, name="fc_out")(h)
    return keras.Model([z, y], x, name="generator")


def build_discriminator(num_labels, act_dim=200, x_dim=2, pool=5, seed=0, name="discriminator"):
    """keras.Model([x [N, x_dim], y [N] int]) -> logit [N]; its layer `fc3` gives the clustering features."""
    x = keras.Input((x_dim,), name="x")
    y = keras.Input((), dtype="int32", name="y")
    h = x
    for i in range(1, 4):
        h = Maxout(act_dim, pool, seed=seed + 10 * i, name=f"fc{i}")(h)
    logit = MaskLogits(num_labels, seed=seed + 40, name="fc4")([h, y])
    return keras.Model([x, y], logit, name=name)


def feature_model(discriminator):
    """x -> D's features (the third Maxout layer's output), sharing D's weights."""
    return keras.Model(discriminator.inputs[0], discriminator.get_layer("fc3").output,
                       name=f"{discriminator.name}_features")
