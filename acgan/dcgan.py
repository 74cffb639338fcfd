"""The original AC-GAN's DCGAN-style networks (gitlimlab/ACGAN-PyTorch network.py) as Keras models, NHWC.

    `_netG_CIFAR10` / `_netD_CIFAR10` at 32x32 and `_netG` / `_netD` (ImageNet) at 128x128, chosen by resolution;
    `img_channels` is the dataset's (the original hard-codes 3), `z_dim` is the original's nz (110).

The generator presents the backbone's generator interface (stylegan2.networks.Generator), so the training loop,
run_generator.py and the metrics use it unchanged:
  mapping(z, c)      builds the original's input vector: z with its first c_dim entries replaced by the one-hot class
                     (main.py: noise_[:, :num_classes] = class_onehot), as ws [N, 1, z_dim] (num_ws = 1, w_dim = z_dim);
  synthesis(ws)      fc1 (no activation), then transposed convolutions with batch norm and ReLU, tanh at the end;
                     no noise inputs (noise_shapes = []);
  update_w_avg, truncate   no-ops: the original has no w average and no truncation, so --truncation-psi has no effect.

PyTorch -> Keras: Conv2d(k, s, p) = ZeroPadding2D(p) + Conv2D(k, s, 'valid'); ConvTranspose2d(k, s, p) =
Conv2DTranspose(k, s, 'valid') + Cropping2D(p); flattening is NHWC (a weight importer would permute fc rows).
Initialisation as utils.weights_init: conv and transposed-conv kernels N(0, 0.02), batch-norm gamma N(1, 0.02) and
beta 0; the linear layers keep PyTorch's default U(+-1/sqrt(fan_in)) for weight and bias.

Batch norm (PyTorch eps 1e-5, momentum 0.1) is synchronized over replicas, so N replicas normalise with the global
batch's statistics as one device does. The original never leaves train mode; here training steps use batch
statistics (`training=True`) and generation uses the moving averages, so an image depends on its seed alone.
D's Dropout(0.5) after every block takes its uniforms from the caller (`dropout=`, shapes `dropout_shapes`), drawn
by the training step like every other random number (one device == N replicas; exact resume); without them, no
dropout.
"""

import math

import keras
from keras import ops

from stylegan2.errors import UserError

BN_KWARGS = dict(momentum=0.9, epsilon=1e-5, synchronized=True)  # PyTorch BatchNorm2d: momentum 0.1, eps 1e-5

# (filters, kernel, stride, padding) of the transposed convolutions after fc1 -> [1, 1, fc_units].
G_SPECS = {
    32: dict(fc_units=384, blocks=((192, 4, 1, 0), (96, 4, 2, 1), (48, 4, 2, 1), (None, 4, 2, 1))),   # _netG_CIFAR10
    128: dict(fc_units=768, blocks=((384, 5, 2, 0), (256, 5, 2, 0), (192, 5, 2, 0), (64, 5, 2, 0),
                                    (None, 8, 2, 0))),                                                # _netG
}
# Discriminator: six 3x3 conv blocks; (filters, stride, padding); batch norm on all but the first.
D_FILTERS = (16, 32, 64, 128, 256, 512)
D_STRIDES = (2, 1, 2, 1, 2, 1)
D_PADDINGS = {32: (1, 1, 1, 1, 1, 1), 128: (1, 0, 1, 0, 1, 0)}  # _netD_CIFAR10, _netD
RESOLUTIONS = tuple(sorted(G_SPECS))


def check_resolution(img_resolution):
    if img_resolution not in G_SPECS:
        raise UserError(f"--arch acgan_dcgan: the original's networks are for 32x32 (CIFAR-10) or 128x128 (ImageNet) "
                        f"images; this dataset is {img_resolution}x{img_resolution}; use --arch stylegan2 or a "
                        f"dataset made at 32 or 128 pixels")


def _torch_linear(units, fan_in, name):
    """nn.Linear's default initialisation: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.layers.Dense(
        units, name=name,
        kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),  # limit 1/sqrt(fan_in)
        bias_initializer=keras.initializers.RandomUniform(-bound, bound))


def _weights_init_conv():
    return keras.initializers.RandomNormal(0.0, 0.02)


def _batch_norm(name):
    return keras.layers.BatchNormalization(name=name, gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                           **BN_KWARGS)


# === Generator ===


@keras.saving.register_keras_serializable(package="acgan")
class DCGANInput(keras.layers.Layer):
    """The generator's 'mapping': z [N,z_dim], one-hot c [N,c_dim] -> the original's input vector as ws [N,1,z_dim],
    z with its first c_dim entries replaced by c."""

    def __init__(self, z_dim=110, c_dim=10, **kwargs):
        super().__init__(**kwargs)
        self.z_dim = z_dim
        self.c_dim = c_dim

    def call(self, z, c=None):
        if self.c_dim:
            if c is None:
                raise ValueError(f"{self.name}: c_dim={self.c_dim}, but no labels c were given.")
            z = ops.concatenate([ops.cast(c, z.dtype), z[:, self.c_dim:]], axis=1)
        return ops.expand_dims(z, 1)  # [N,1,z_dim]

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "c_dim": self.c_dim}


@keras.saving.register_keras_serializable(package="acgan")
class DCGANSynthesis(keras.Model):
    """ws [N,1,w_dim] -> images [N,R,R,C] in [-1,1]: _netG_CIFAR10 (R = 32) or _netG (R = 128)."""

    def __init__(self, w_dim=110, img_resolution=32, img_channels=3, **kwargs):
        super().__init__(**kwargs)
        check_resolution(img_resolution)
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        spec = G_SPECS[img_resolution]
        self.fc_units = spec["fc_units"]
        self.fc1 = _torch_linear(self.fc_units, w_dim, "fc1")
        self.tconvs, self.crops, self.bns = [], [], []
        for i, (filters, kernel, stride, padding) in enumerate(spec["blocks"]):
            self.tconvs.append(keras.layers.Conv2DTranspose(
                filters or img_channels, kernel, strides=stride, padding="valid", use_bias=False,
                kernel_initializer=_weights_init_conv(), name=f"tconv{i + 2}"))
            self.crops.append(keras.layers.Cropping2D(padding, name=f"tconv{i + 2}_crop") if padding else None)
            self.bns.append(_batch_norm(f"tconv{i + 2}_bn") if filters else None)  # the last block: tanh, no BN

    @property
    def noise_shapes(self):
        """No per-layer noise inputs."""
        return []

    def build(self, input_shape=None):
        self.fc1.build((None, self.w_dim))
        shape = (None, 1, 1, self.fc_units)
        for tconv, crop, bn in zip(self.tconvs, self.crops, self.bns):
            tconv.build(shape)
            shape = tconv.compute_output_shape(shape)
            if crop is not None:
                shape = crop.compute_output_shape(shape)
            if bn is not None:
                bn.build(shape)
        self.built = True

    def call(self, ws, noise=None, noise_mode=None, fused_modconv=None, training=None):
        """ws [N,1,w_dim] -> [N,R,R,C]; `training` True: batch statistics (and moving-average updates).
        noise, noise_mode, fused_modconv: the backbone's arguments, with nothing to act on here."""
        if noise:
            raise ValueError(f"{self.name}: the DCGAN generator has no noise inputs, got {len(noise)} noise tensors.")
        x = ops.reshape(self.fc1(ws[:, 0]), (-1, 1, 1, self.fc_units))  # fc1 has no activation in the original
        for tconv, crop, bn in zip(self.tconvs, self.crops, self.bns):
            x = tconv(x)
            if crop is not None:
                x = crop(x)
            x = ops.relu(bn(x, training=training)) if bn is not None else ops.tanh(x)
        return x

    def get_config(self):
        return {**super().get_config(), "w_dim": self.w_dim, "img_resolution": self.img_resolution,
                "img_channels": self.img_channels}


@keras.saving.register_keras_serializable(package="acgan")
class DCGANGenerator(keras.Model):
    """The original's _netG_CIFAR10 / _netG behind the backbone's generator interface (see the module docstring).

    Example:
    ```python
    G = DCGANGenerator(z_dim=110, c_dim=10, img_resolution=32, img_channels=1)
    G.build()
    img = G(keras.random.normal((4, 110)), keras.ops.one_hot([0, 1, 2, 3], 10))  # [4,32,32,1]
    ```
    """

    def __init__(self, z_dim=110, c_dim=10, img_resolution=32, img_channels=3, **kwargs):
        super().__init__(**kwargs)
        if c_dim < 1 or z_dim <= c_dim:
            raise UserError(f"--nz {z_dim}: the original's input vector holds the {c_dim}-class one-hot in its first "
                            f"entries and noise in the rest; --nz must be larger than the number of classes")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = z_dim
        self.num_ws = 1
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.mapping = DCGANInput(z_dim, c_dim, name="mapping")
        self.synthesis = DCGANSynthesis(z_dim, img_resolution, img_channels, name="synthesis")

    def build(self, input_shape=None):
        self.synthesis.build()
        self.built = True

    def update_w_avg(self, ws):
        """No-op: the original tracks no average w (and has no truncation)."""

    def truncate(self, ws, truncation_psi=1.0, truncation_cutoff=None):
        """No-op: the original has no truncation trick; ws are returned unchanged whatever psi is."""
        return ws

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise=None, noise_mode=None,
             fused_modconv=None, training=None):
        return self.synthesis(self.mapping(z, c), noise=noise, training=training)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim, "c_dim": self.c_dim,
                "img_resolution": self.img_resolution, "img_channels": self.img_channels}


# === Discriminator ===


@keras.saving.register_keras_serializable(package="acgan")
class DCGANDiscriminator(keras.Model):
    """The original's _netD_CIFAR10 (32x32) / _netD (128x128): six conv blocks, then two linear heads on the same
    flattened features, `fc_dis` (source logit [N,1]) and `fc_aux` (class logits [N,c_dim]); the original's
    Sigmoid and Softmax are applied by the loss (acgan.losses), so D returns logits as the backbone's heads do."""

    def __init__(self, c_dim=10, img_resolution=32, img_channels=3, dropout_rate=0.5, **kwargs):
        super().__init__(**kwargs)
        check_resolution(img_resolution)
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.dropout_rate = float(dropout_rate)
        self.pads, self.convs, self.bns = [], [], []
        for i, (filters, stride, padding) in enumerate(zip(D_FILTERS, D_STRIDES, D_PADDINGS[img_resolution])):
            self.pads.append(keras.layers.ZeroPadding2D(padding, name=f"conv{i + 1}_pad") if padding else None)
            self.convs.append(keras.layers.Conv2D(filters, 3, strides=stride, padding="valid", use_bias=False,
                                                  kernel_initializer=_weights_init_conv(), name=f"conv{i + 1}"))
            self.bns.append(_batch_norm(f"conv{i + 1}_bn") if i else None)
        self.feature_dim = math.prod(self.dropout_shapes[-1])
        self.fc_dis = _torch_linear(1, self.feature_dim, "fc_dis")
        self.fc_aux = _torch_linear(c_dim, self.feature_dim, "fc_aux")

    @property
    def dropout_shapes(self):
        """(H, W, C) after each of the six blocks: the shapes of the dropout uniforms, per sample."""
        shapes, size = [], self.img_resolution
        for filters, stride, padding in zip(D_FILTERS, D_STRIDES, D_PADDINGS[self.img_resolution]):
            size = (size + 2 * padding - 3) // stride + 1
            shapes.append((size, size, filters))
        return shapes

    def build(self, input_shape=None):
        shape = (None, self.img_resolution, self.img_resolution, self.img_channels)
        for pad, conv, bn in zip(self.pads, self.convs, self.bns):
            if pad is not None:
                shape = pad.compute_output_shape(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if bn is not None:
                bn.build(shape)
        self.fc_dis.build((None, self.feature_dim))
        self.fc_aux.build((None, self.feature_dim))
        self.built = True

    def features(self, img, dropout=None, training=None):
        """img [N,R,R,C] -> the flattened conv6 features [N, feature_dim] both heads read.
        dropout: None (no dropout) or six uniforms in [0,1), shapes [N, *dropout_shapes[i]]: keep where >= rate."""
        if dropout is not None and len(dropout) != len(self.convs):
            raise ValueError(f"{self.name}: {len(dropout)} dropout tensors given, expected {len(self.convs)}.")
        x = img
        for i, (pad, conv, bn) in enumerate(zip(self.pads, self.convs, self.bns)):
            if pad is not None:
                x = pad(x)
            x = conv(x)
            if bn is not None:
                x = bn(x, training=training)
            x = ops.leaky_relu(x, 0.2)
            if dropout is not None:
                keep = ops.cast(dropout[i] >= self.dropout_rate, x.dtype)
                x = x * keep / (1.0 - self.dropout_rate)  # nn.Dropout(0.5): zero with p, scale the rest by 1/(1-p)
        return ops.reshape(x, (-1, self.feature_dim))

    def call(self, img, c=None, dropout=None, training=None):
        """img [N,R,R,C] -> (source logits [N,1], class logits [N,c_dim]); c is not read (as the 'auxiliary' head)."""
        x = self.features(img, dropout=dropout, training=training)
        return self.fc_dis(x), self.fc_aux(x)

    def get_config(self):
        return {**super().get_config(), "c_dim": self.c_dim, "img_resolution": self.img_resolution,
                "img_channels": self.img_channels, "dropout_rate": self.dropout_rate}


def build_networks(img_resolution, img_channels, c_dim, z_dim=110):
    """(G, D) of the original's architecture for a dataset, built."""
    check_resolution(img_resolution)
    G = DCGANGenerator(z_dim=z_dim, c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                       name="generator")
    D = DCGANDiscriminator(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                           name="discriminator")
    G.build()
    D.build()
    return G, D
