"""StyleGAN2 networks: mapping, synthesis, generator, discriminator (NVIDIA TF1 config-e/f maths, NHWC, `keras.ops`).

Ported from TF1 `training/networks_stylegan2.py` (`G_main`, `G_mapping`, `G_synthesis_stylegan2`, `D_stylegan2`);
sub-layers are named as ADA's state keys (`fc0`, `b4.conv1`, `b8.conv0`, `b8.torgb`, `b8.skip`, `b4.fc`, ...), so
a weight path reads `generator/synthesis/b8.conv0/affine/weight` and a weight importer is a table. Every network
creates all its weights in `build()` from its config alone; call `build()` (or the network) once before use.
"""

import math

import keras
from keras import ops

from stylegan2.layers import (
    ConstantInput,
    Conv2dLayer,
    FullyConnected,
    MinibatchStdLayer,
    PixelNorm,
    SynthesisLayer,
    ToRGBLayer,
)
from stylegan2.ops import downsample2d, setup_filter, upsample2d
from stylegan2.precision import cast_to, fp16_resolution, set_layer_dtype

ARCHITECTURES = ("orig", "skip", "resnet")
D_HEADS = ("unconditional", "projection", "multi_logit", "auxiliary", "cmap")
LABEL_EMBEDS = ("concat", "dense")
SQRT_HALF = math.sqrt(0.5)  # resnet merge: (x + skip) / sqrt(2)


# === Helpers ===


def nf(stage, fmap_base=16384, fmap_decay=1.0, fmap_min=1, fmap_max=512):
    """Feature maps at `stage` (TF1 `nf`): resolution 2^r uses nf(r - 1); nf(0) is the discriminator's Dense0 width."""
    return int(min(max(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min), fmap_max))


def mix_styles(ws, ws2, cutoff):
    """Style mixing (TF1 `G_main` StyleMix): layers < cutoff from ws, the others from ws2.

    ws, ws2 [N,num_ws,w_dim]; cutoff a scalar (tensor) shared by the whole batch, as in TF1; num_ws = no mixing.
    """
    layer_idx = ops.arange(ws.shape[1])[None, :, None]  # [1L1]
    return ops.where(layer_idx < ops.cast(cutoff, layer_idx.dtype), ws, ws2)


def _lerp(a, b, t):
    return a + (b - a) * t


def _check_resolution(network, img_resolution):
    if img_resolution < 4 or img_resolution & (img_resolution - 1):
        raise ValueError(f"{network}: img_resolution={img_resolution} must be a power of 2 and at least 4.")


def _check_architecture(network, architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{network}: unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}.")


def _check_shape(network, what, x, shape):
    """Static shape check at a network's boundary (ADA `misc.assert_shape`); None matches any size."""
    actual = tuple(x.shape)
    if len(actual) != len(shape) or any(a is not None and s is not None and a != s for a, s in zip(actual, shape)):
        expected = tuple("N" if s is None else s for s in shape)
        raise ValueError(f"{network}: {what} has shape {actual}, expected {expected}.")


# === Generator ===


@keras.saving.register_keras_serializable(package="stylegan2")
class MappingNetwork(keras.Model):
    """z [N,z_dim] (and labels c [N,c_dim]) -> ws [N,num_ws,w_dim] (TF1 `G_mapping`), and the tracked average w_avg.

    Labels, label_embed='concat' (TF1's `LabelConcat`): concat([z, c @ embed]) with embed [c_dim,z_dim] ~N(0, 1) and
    no equalized-LR gain, then pixel norm. label_embed='dense' (ADA's `MappingNetwork`): `embed`, an equalized-LR
    dense layer c -> w_dim (or `embed_features`) with bias, pixel-normed on its own and concatenated to the pixel-normed z (z_dim may then
    be 0: ADA's label mapping in the discriminator). Then `num_layers` equalized-LR lrelu layers of w_dim features.
    num_ws=None returns [N,w_dim] and tracks no w_avg.
    """

    def __init__(
        self,
        z_dim=512,              # Input latent (z) dimensionality.
        c_dim=0,                # Label dimensionality, 0 = unconditional (c is then ignored).
        w_dim=512,              # Intermediate latent (w) dimensionality, also the width of every layer.
        num_ws=18,              # Number of copies of w to output (2 * log2(img_resolution) - 2; 18 = 1024 px), None = [N,w_dim].
        num_layers=8,           # Number of fully connected layers.
        lr_multiplier=0.01,     # Learning-rate multiplier of the layers (TF1 `mapping_lrmul`).
        w_avg_beta=0.995,       # Decay of the moving average w_avg (TF1 `dlatent_avg_beta`).
        init_mul=1.0,           # InclusiveGAN's multiplier of the layers' initial weight std; 1 = NVIDIA.
        label_embed="concat",   # Label embedding: 'concat' (TF1 `LabelConcat`) or 'dense' (ADA `embed`).
        embed_features=None,    # 'dense': width of the label embedding (ADA `embed_features`), None = w_dim.
        **kwargs,
    ):
        super().__init__(**kwargs)
        if label_embed not in LABEL_EMBEDS:
            raise ValueError(f"MappingNetwork: unknown label_embed {label_embed!r}; valid: {', '.join(LABEL_EMBEDS)}.")
        if embed_features is not None and (label_embed != "dense" or int(embed_features) < 1):
            raise ValueError(f"MappingNetwork: embed_features={embed_features!r} needs label_embed='dense' and a "
                             f"positive width.")
        if z_dim == 0 and not (c_dim and label_embed == "dense"):
            raise ValueError("MappingNetwork: z_dim=0 needs labels (c_dim > 0) embedded with label_embed='dense'.")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.lr_multiplier = float(lr_multiplier)
        self.w_avg_beta = float(w_avg_beta)
        self.init_mul = float(init_mul)
        self.label_embed = label_embed
        self.embed_features = None if embed_features is None else int(embed_features)
        self.normalize = PixelNorm(name="normalize", dtype=self.dtype_policy)
        if c_dim and label_embed == "dense":
            self.embed = FullyConnected(self.embed_features or w_dim, name="embed", dtype=self.dtype_policy)
        fc_kwargs = dict(activation="lrelu", lr_multiplier=lr_multiplier, init_mul=init_mul, dtype=self.dtype_policy)
        self.fcs = [FullyConnected(w_dim, name=f"fc{idx}", **fc_kwargs) for idx in range(num_layers)]

    def build(self, input_shape=None):
        """Creates every weight from the config; input_shape (of z) is not needed."""
        in_features = self.z_dim
        if self.c_dim and self.label_embed == "concat":
            self.embed = self.add_weight(
                name="embed", shape=(self.c_dim, self.z_dim), initializer=keras.initializers.RandomNormal(stddev=1.0)
            )
            in_features += self.z_dim
        elif self.c_dim:
            self.embed.build((None, self.c_dim))
            in_features += self.embed.units
        for fc in self.fcs:
            fc.build((None, in_features))
            in_features = fc.units
        if self.num_ws is not None:
            self.w_avg = self.add_weight(
                name="w_avg",
                shape=(self.w_dim,),
                initializer="zeros",
                trainable=False,
                aggregation="mean",  # Under MirroredStrategy an update averages the replicas' new values.
            )

    def call(self, z, c=None):
        """z [N,z_dim], c [N,c_dim] (needed when c_dim > 0) -> ws [N,num_ws,w_dim] ([N,w_dim] when num_ws is None)."""
        _check_shape(self.name, "z", z, (None, self.z_dim))
        if self.c_dim:
            if c is None:
                raise ValueError(f"{self.name}: c_dim={self.c_dim}, but no labels c were given.")
            _check_shape(self.name, "c", c, (None, self.c_dim))
        if self.c_dim and self.label_embed == "dense":
            y = self.normalize(self.embed(ops.cast(c, self.compute_dtype)))
            x = ops.concatenate([self.normalize(z), y], axis=1) if self.z_dim else y  # [N,z_dim+embed width]
        elif self.c_dim:
            x = ops.concatenate([z, ops.matmul(ops.cast(c, z.dtype), self.embed)], axis=1)  # [N,2*z_dim]
            x = self.normalize(x)
        else:
            x = self.normalize(z)
        for fc in self.fcs:
            x = fc(x)
        if self.num_ws is None:
            return x
        return ops.repeat(ops.expand_dims(x, 1), self.num_ws, axis=1)  # [N,num_ws,w_dim]

    def update_w_avg(self, ws):
        """w_avg <- lerp(mean_batch(ws[:, 0]), w_avg, w_avg_beta) (TF1 `DlatentAvg`), for ws [N,num_ws,w_dim].

        Under MirroredStrategy call it in each replica on that replica's part of the batch: with equal parts the
        mean aggregation gives exactly the single-device update on the global batch.
        """
        batch_avg = ops.mean(ops.cast(ws[:, 0], self.w_avg.dtype), axis=0)  # [w_dim]
        self.w_avg.assign(_lerp(batch_avg, self.w_avg, self.w_avg_beta))

    def get_config(self):
        config = super().get_config()
        config.update(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            num_ws=self.num_ws,
            num_layers=self.num_layers,
            lr_multiplier=self.lr_multiplier,
            w_avg_beta=self.w_avg_beta,
            init_mul=self.init_mul,
            label_embed=self.label_embed,
            embed_features=self.embed_features,
        )
        return config


@keras.saving.register_keras_serializable(package="stylegan2")
class SynthesisNetwork(keras.Model):
    """ws [N,num_ws,w_dim] -> images [N,img_resolution,img_resolution,img_channels] (TF1 `G_synthesis_stylegan2`).

    Learned 4x4 const, `b4.conv1` (w index 0), then for each resolution 2^r >= 8 the blocks `b{2^r}.conv0` (up, w index
    2r-5) and `b{2^r}.conv1` (2r-4); `b{2^r}.torgb` uses w index 2r-3. 'skip': img = upsample2d(img) + ToRGB(x) at every
    resolution from 4x4; 'orig' and 'resnet': ToRGB at the last resolution only; 'resnet' adds a 1x1 up-conv skip,
    x = (conv1(conv0(x)) + skip(x)) / sqrt(2). The output is not clipped (no tanh).

    Noise: `self.convs[i]` (w index i) adds noise of shape [N, *noise_shapes[i], 1]. Pass `noise` (a list of those
    tensors) to draw it yourself, e.g. for the global batch from one seeded generator under tf.distribute.

    Mixed precision: `set_precision` (ADA's `num_fp16_res`); the image skips stay float32 and so does the output.
    """

    def __init__(
        self,
        w_dim=512,                  # Intermediate latent (w) dimensionality.
        img_resolution=1024,        # Output resolution, a power of 2 >= 4.
        img_channels=3,             # Number of output color channels.
        architecture="skip",        # 'orig', 'skip' or 'resnet'.
        fmap_base=16384,            # Overall multiplier for the number of feature maps (config-e: 8192).
        fmap_decay=1.0,             # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                 # Minimum number of feature maps in any layer.
        fmap_max=512,               # Maximum number of feature maps in any layer.
        noise_mode="random",        # Default noise of every layer: 'random', 'const' or 'none'; `call` can override it.
        fused_modconv=False,        # Default modulated-conv form (True: grouped conv, inference only on CPU).
        init_mul=1.0,               # InclusiveGAN's multiplier of the initial weight std of convs, affines, ToRGB, skips.
        conv_clamp=None,            # Clip the outputs of the convs and ToRGBs to +-conv_clamp (ADA), None = no clipping.
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_resolution("SynthesisNetwork", img_resolution)
        _check_architecture("SynthesisNetwork", architecture)
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.fmap_base = fmap_base
        self.fmap_decay = float(fmap_decay)
        self.fmap_min = fmap_min
        self.fmap_max = fmap_max
        self.noise_mode = noise_mode
        self.fused_modconv = fused_modconv
        self.init_mul = float(init_mul)
        self.conv_clamp = conv_clamp

        self.resolution_log2 = int(math.log2(img_resolution))
        self.num_ws = 2 * self.resolution_log2 - 2
        self._filter = setup_filter()

        layer_kwargs = dict(w_dim=w_dim, fused_modconv=fused_modconv, init_mul=init_mul, dtype=self.dtype_policy)
        conv_kwargs = dict(layer_kwargs, noise_mode=noise_mode)
        self.const = ConstantInput(self.fmaps(1), name="b4.const", dtype=self.dtype_policy)
        self.convs = [SynthesisLayer(self.fmaps(1), resolution=4, name="b4.conv1", **conv_kwargs)]
        self.torgbs = {}  # resolution -> ToRGBLayer
        self.skips = {}  # resolution -> Conv2dLayer ('resnet' only)
        for r in range(2, self.resolution_log2 + 1):
            res = 2**r
            if r > 2:
                for name, up in (("conv0", 2), ("conv1", 1)):
                    conv = SynthesisLayer(self.fmaps(r - 1), resolution=res, up=up, name=f"b{res}.{name}", **conv_kwargs)
                    self.convs.append(conv)
                if architecture == "resnet":
                    self.skips[res] = Conv2dLayer(
                        self.fmaps(r - 1), 1, bias=False, up=2, init_mul=init_mul, name=f"b{res}.skip", dtype=self.dtype_policy
                    )
            if architecture == "skip" or r == self.resolution_log2:
                self.torgbs[res] = ToRGBLayer(img_channels, name=f"b{res}.torgb", **layer_kwargs)
        self.set_conv_clamp(conv_clamp)

    def set_conv_clamp(self, conv_clamp):
        """Clip the outputs of the convs and ToRGBs to +-conv_clamp (ADA), None = no clipping; recorded in the config."""
        self.conv_clamp = conv_clamp
        for layer in (*self.convs, *self.torgbs.values()):
            layer.clamp = conv_clamp

    def set_precision(self, dtype, num_fp16_res):
        """The layers of the `num_fp16_res` highest resolutions (ADA `num_fp16_res`; never 4x4) compute in `dtype`
        ('bfloat16' or 'float16'), the others in float32 ('float32': all). Weights stay float32; not recorded in the
        config (see stylegan2.precision)."""
        first = fp16_resolution(self.img_resolution, num_fp16_res)
        layers = [(layer.resolution, layer) for layer in self.convs]
        layers += list(self.torgbs.items()) + list(self.skips.items())
        for res, layer in layers:
            set_layer_dtype(layer, dtype if res >= first else "float32")

    def fmaps(self, stage):
        """Feature maps at `stage` (TF1 `nf`); resolution 2^r has fmaps(r - 1)."""
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    @property
    def noise_shapes(self):
        """(H, W) of the noise of each layer, in w-index order: noise i has shape [N, H, W, 1]."""
        return [(layer.resolution, layer.resolution) for layer in self.convs]

    def build(self, input_shape=None):
        """Creates every weight from the config; input_shape (of ws) is not needed."""
        w_shape = (None, self.w_dim)
        self.const.build(w_shape)
        in_channels = self.fmaps(1)
        for layer in self.convs:
            size = layer.resolution // layer.up
            layer.build((None, size, size, in_channels), w_shape)
            in_channels = layer.filters
        for res, skip in self.skips.items():
            r = int(math.log2(res))
            skip.build((None, res // 2, res // 2, self.fmaps(r - 2)))
        for res, torgb in self.torgbs.items():
            r = int(math.log2(res))
            torgb.build((None, res, res, self.fmaps(r - 1)), w_shape)

    def call(self, ws, noise=None, noise_mode=None, fused_modconv=None):
        """ws [N,num_ws,w_dim] -> [N,H,W,C]. noise: list of [N,H,W,1] per layer (overrides noise_mode); None = the
        layers' own (noise_mode: None = the constructor's). fused_modconv: None = the constructor's."""
        _check_shape(self.name, "ws", ws, (None, self.num_ws, self.w_dim))
        if noise is not None and len(noise) != len(self.convs):
            raise ValueError(
                f"{self.name}: {len(noise)} noise tensors given, expected {len(self.convs)} (see noise_shapes)."
            )

        def conv(idx, x):
            layer_noise = None if noise is None else noise[idx]
            return self.convs[idx](x, ws[:, idx], noise_mode=noise_mode, fused_modconv=fused_modconv, noise=layer_noise)

        def torgb(r, x, img):
            t = self.torgbs[2**r](x, ws[:, 2 * r - 3], fused_modconv=fused_modconv)
            t = cast_to(t, "float32")  # the image skips add in float32 (ADA)
            return t if img is None else img + t

        x = conv(0, self.const(ws))  # [N,4,4,nf(1)]
        img = torgb(2, x, None) if 4 in self.torgbs else None
        for r in range(3, self.resolution_log2 + 1):
            t = x
            x = conv(2 * r - 5, x)  # Conv0_up
            x = conv(2 * r - 4, x)  # Conv1
            if self.architecture == "resnet":
                x = (x + self.skips[2**r](t)) * SQRT_HALF
            if self.architecture == "skip":
                img = upsample2d(img, self._filter)
            if 2**r in self.torgbs:
                img = torgb(r, x, img)
        return img

    def get_config(self):
        config = super().get_config()
        config.update(
            w_dim=self.w_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            fmap_base=self.fmap_base,
            fmap_decay=self.fmap_decay,
            fmap_min=self.fmap_min,
            fmap_max=self.fmap_max,
            noise_mode=self.noise_mode,
            fused_modconv=self.fused_modconv,
            init_mul=self.init_mul,
            conv_clamp=self.conv_clamp,
        )
        return config


@keras.saving.register_keras_serializable(package="stylegan2")
class Generator(keras.Model):
    """Mapping + synthesis with w_avg and truncation (TF1 `G_main`): z [N,z_dim], c [N,c_dim] -> images [N,H,W,C].

    `G(z, c)` is for inference. A training step composes the parts itself, drawing its own randomness (for the
    global batch, then sliced per replica, so that 1 device and N replicas compute the same thing):
    ```python
    ws = G.mapping(z, c)
    G.update_w_avg(ws)
    ws = G.mix_styles(ws, G.mapping(z2, c), cutoff)  # cutoff ~ U[1, num_ws) with prob. 0.9, else num_ws
    img = G.synthesis(ws, noise=noise)               # noise: list of [N,H,W,1], shapes G.synthesis.noise_shapes
    ```
    Example:
    ```python
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(fmap_base=128, fmap_max=16))
    img = G(keras.random.normal((4, 16)), truncation_psi=0.5)  # [4,16,16,3]
    ```
    """

    mapping_class = MappingNetwork  # a subclass may bring its own (e.g. with modules on z or w), given mapping_kwargs

    def __init__(
        self,
        z_dim=512,              # Input latent (z) dimensionality.
        c_dim=0,                # Label dimensionality, 0 = unconditional.
        w_dim=512,              # Intermediate latent (w) dimensionality.
        img_resolution=1024,    # Output resolution, a power of 2 >= 4.
        img_channels=3,         # Number of output color channels.
        mapping_kwargs=None,    # Further MappingNetwork arguments (num_layers, lr_multiplier, init_mul).
        synthesis_kwargs=None,  # Further SynthesisNetwork arguments (architecture, fmap_base, ..., init_mul).
        w_avg_beta=0.995,       # Decay of the moving average w_avg (TF1 `dlatent_avg_beta`).
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.mapping_kwargs = dict(mapping_kwargs or {})
        self.synthesis_kwargs = dict(synthesis_kwargs or {})
        self.w_avg_beta = float(w_avg_beta)
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim,
            img_resolution=img_resolution,
            img_channels=img_channels,
            name="synthesis",
            dtype=self.dtype_policy,
            **self.synthesis_kwargs,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = self.mapping_class(
            z_dim=z_dim,
            c_dim=c_dim,
            w_dim=w_dim,
            num_ws=self.num_ws,
            w_avg_beta=w_avg_beta,
            name="mapping",
            dtype=self.dtype_policy,
            **self.mapping_kwargs,
        )

    mix_styles = staticmethod(mix_styles)

    def build(self, input_shape=None):
        """Creates every weight from the config; input_shape (of z) is not needed."""
        self.mapping.build()
        self.synthesis.build()

    @property
    def w_avg(self):
        """The moving average of w [w_dim] (a non-trainable weight of the mapping network)."""
        return self.mapping.w_avg

    def update_w_avg(self, ws):
        """w_avg <- lerp(mean_batch(ws[:, 0]), w_avg, w_avg_beta); see MappingNetwork.update_w_avg."""
        self.mapping.update_w_avg(ws)

    def truncate(self, ws, truncation_psi=1.0, truncation_cutoff=None):
        """Truncation trick (TF1 `G_main`): ws = lerp(w_avg, ws, psi) on layers < truncation_cutoff (all when None)."""
        if isinstance(truncation_psi, (int, float)) and truncation_psi == 1:
            return ws
        psi = ops.cast(truncation_psi, ws.dtype)
        if truncation_cutoff is not None:
            layer_idx = ops.arange(self.num_ws)[None, :, None]  # [1L1]
            psi = ops.where(layer_idx < truncation_cutoff, psi, ops.ones_like(psi))
        return _lerp(ops.cast(self.w_avg, ws.dtype), ws, psi)

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise=None, noise_mode=None, fused_modconv=None):
        """z [N,z_dim], c [N,c_dim] -> images [N,H,W,C]; psi = 1: no truncation. Does not update w_avg."""
        ws = self.truncate(self.mapping(z, c), truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise=noise, noise_mode=noise_mode, fused_modconv=fused_modconv)

    def get_config(self):
        config = super().get_config()
        config.update(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            mapping_kwargs=dict(self.mapping_kwargs),
            synthesis_kwargs=dict(self.synthesis_kwargs),
            w_avg_beta=self.w_avg_beta,
        )
        return config


# === Discriminator ===


@keras.saving.register_keras_serializable(package="stylegan2")
class Discriminator(keras.Model):
    """Images [N,H,W,C] (and labels c [N,c_dim]) -> scores (TF1 `D_stylegan2`), with a pluggable head.

    FromRGB (1x1 conv, lrelu) at the top resolution ('orig', 'resnet') or at every resolution ('skip', the image
    downsampled by FIR and the results added); blocks `b{res}.conv0` (3x3, nf(r-1)) and `b{res}.conv1` (3x3, down 2,
    nf(r-2)), with 'resnet' a 1x1 down-conv skip and (x + skip) / sqrt(2); at 4x4 minibatch std, `b4.conv` (3x3,
    nf(1)), flatten, `b4.fc` (Dense0, nf(0), lrelu) = `features(img)`, then the head:
    - 'unconditional': `b4.out` Dense(1) -> [N,1];
    - 'projection': NVIDIA's label conditioning, `b4.out` Dense(max(c_dim, 1)), then sum(out * c, axis=1) -> [N,1]
      (equal to 'unconditional' when c_dim = 0);
    - 'multi_logit': `b4.out` Dense(c_dim) -> [N,c_dim], one raw logit per class (self-conditioned GAN);
    - 'auxiliary': AC-GAN, (`b4.out` Dense(1) -> [N,1], `b4.cls` Dense(c_dim) -> class logits [N,c_dim]);
    - 'cmap': ADA's label conditioning, `b4.out` Dense(cmap_dim), then sum(out * mapping(c), axis=1) / sqrt(cmap_dim)
      -> [N,1], with `mapping` a MappingNetwork (z_dim 0, label_embed 'dense') of c to cmap_dim features.
    Only 'projection' and 'cmap' read c; the other heads ignore it. conv_clamp clips the outputs of FromRGB (above
    4x4), conv0, conv1 and `b4.conv` as ADA does (not the skips, not the dense layers). Mixed precision:
    `set_precision` (ADA's `num_fp16_res`); the 4x4 epilogue and the scores stay float32.

    Example:
    ```python
    D = Discriminator(c_dim=10, img_resolution=16, img_channels=3, fmap_base=128, fmap_max=16, head="auxiliary")
    scores, class_logits = D(keras.random.normal((4, 16, 16, 3)))  # [4,1], [4,10]
    ```
    """

    def __init__(
        self,
        c_dim=0,                    # Label dimensionality (classes of 'multi_logit' and 'auxiliary').
        img_resolution=1024,        # Input resolution, a power of 2 >= 4.
        img_channels=3,             # Number of input color channels.
        architecture="resnet",      # 'orig', 'skip' or 'resnet'.
        fmap_base=16384,            # Overall multiplier for the number of feature maps (config-e: 8192).
        fmap_decay=1.0,             # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                 # Minimum number of feature maps in any layer.
        fmap_max=512,               # Maximum number of feature maps in any layer.
        mbstd_group_size=4,         # Group size of the minibatch std layer (NVIDIA 4, InclusiveGAN 6); 0 or 1 = disable.
        mbstd_num_channels=1,       # Number of channels the minibatch std layer appends (TF1 `mbstd_num_features`).
        head="unconditional",       # 'unconditional', 'projection', 'multi_logit', 'auxiliary' or 'cmap'.
        cmap_dim=None,              # 'cmap': features of the mapped labels, None = fmaps(1) (ADA's default).
        mapping_kwargs=None,        # 'cmap': further MappingNetwork arguments (num_layers, lr_multiplier).
        conv_clamp=None,            # Clip the conv outputs to +-conv_clamp (ADA), None = no clipping.
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_resolution("Discriminator", img_resolution)
        _check_architecture("Discriminator", architecture)
        if head not in D_HEADS:
            raise ValueError(f"Discriminator: unknown head {head!r}; valid: {', '.join(D_HEADS)}.")
        if head in ("multi_logit", "auxiliary", "cmap") and c_dim < 1:
            raise ValueError(f"Discriminator: head {head!r} needs c_dim >= 1 (the number of classes), got {c_dim}.")
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.fmap_base = fmap_base
        self.fmap_decay = float(fmap_decay)
        self.fmap_min = fmap_min
        self.fmap_max = fmap_max
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_num_channels = mbstd_num_channels
        self.head = head
        self.cmap_dim = (cmap_dim or self.fmaps(1)) if head == "cmap" else None
        self.mapping_kwargs = dict(mapping_kwargs or {})
        self.conv_clamp = conv_clamp

        self.resolution_log2 = int(math.log2(img_resolution))
        self._filter = setup_filter()

        def conv(filters, kernel_size, name, **conv_kwargs):
            return Conv2dLayer(filters, kernel_size, name=name, dtype=self.dtype_policy, **conv_kwargs)

        def dense(units, name, **dense_kwargs):
            return FullyConnected(units, name=name, dtype=self.dtype_policy, **dense_kwargs)

        self.fromrgbs = {}  # resolution -> Conv2dLayer
        self.conv0s = {}
        self.conv1s = {}
        self.skips = {}  # 'resnet' only
        for r in range(self.resolution_log2, 1, -1):
            res = 2**r
            if architecture == "skip" or r == self.resolution_log2:
                self.fromrgbs[res] = conv(self.fmaps(r - 1), 1, f"b{res}.fromrgb", activation="lrelu")
            if r > 2:
                self.conv0s[res] = conv(self.fmaps(r - 1), 3, f"b{res}.conv0", activation="lrelu")
                self.conv1s[res] = conv(self.fmaps(r - 2), 3, f"b{res}.conv1", activation="lrelu", down=2)
                if architecture == "resnet":
                    self.skips[res] = conv(self.fmaps(r - 2), 1, f"b{res}.skip", bias=False, down=2)
        self.mbstd = None
        if mbstd_group_size > 1:  # TF1: `if mbstd_group_size > 1`
            self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels, name="b4.mbstd", dtype=self.dtype_policy)
        self.conv = conv(self.fmaps(1), 3, "b4.conv", activation="lrelu")
        self.fc = dense(self.fmaps(0), "b4.fc", activation="lrelu")  # TF1 Dense0
        out_features = {"projection": max(c_dim, 1), "multi_logit": c_dim, "cmap": self.cmap_dim}.get(head, 1)
        self.out = dense(out_features, "b4.out")
        self.cls = dense(c_dim, "b4.cls") if head == "auxiliary" else None
        self.mapping = None
        if head == "cmap":
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=self.cmap_dim, num_ws=None, label_embed="dense",
                                          name="mapping", dtype=self.dtype_policy, **self.mapping_kwargs)
        self.set_conv_clamp(conv_clamp)

    def set_conv_clamp(self, conv_clamp):
        """Clip to +-conv_clamp (ADA), None = no clipping; recorded in the config. As ADA: FromRGB above 4x4, conv0,
        conv1 and `b4.conv` (not the epilogue's FromRGB, not the skips, not the dense layers)."""
        self.conv_clamp = conv_clamp
        clamped = [layer for res, layer in self.fromrgbs.items() if res > 4]
        for layer in (*clamped, *self.conv0s.values(), *self.conv1s.values(), self.conv):
            layer.clamp = conv_clamp

    def set_precision(self, dtype, num_fp16_res):
        """The blocks of the `num_fp16_res` highest resolutions (ADA `num_fp16_res`; never the 4x4 epilogue) compute
        in `dtype` ('bfloat16' or 'float16'), the others in float32 ('float32': all). Weights stay float32; not
        recorded in the config (see stylegan2.precision)."""
        first = fp16_resolution(self.img_resolution, num_fp16_res)
        for layers in (self.fromrgbs, self.conv0s, self.conv1s, self.skips):
            for res, layer in layers.items():
                set_layer_dtype(layer, dtype if res >= first else "float32")

    def fmaps(self, stage):
        """Feature maps at `stage` (TF1 `nf`); resolution 2^r has fmaps(r - 1), Dense0 fmaps(0)."""
        return nf(stage, self.fmap_base, self.fmap_decay, self.fmap_min, self.fmap_max)

    def build(self, input_shape=None):
        """Creates every weight from the config; input_shape (of the images) is not needed."""
        for res, fromrgb in self.fromrgbs.items():
            fromrgb.build((None, res, res, self.img_channels))
        for res, conv0 in self.conv0s.items():
            shape = (None, res, res, self.fmaps(int(math.log2(res)) - 1))
            conv0.build(shape)
            self.conv1s[res].build(shape)
            if res in self.skips:
                self.skips[res].build(shape)
        shape = (None, 4, 4, self.fmaps(1))
        if self.mbstd is not None:
            self.mbstd.build(shape)
            shape = self.mbstd.compute_output_shape(shape)
        self.conv.build(shape)
        self.fc.build((None, 4 * 4 * self.fmaps(1)))
        self.out.build((None, self.fmaps(0)))
        if self.cls is not None:
            self.cls.build((None, self.fmaps(0)))
        if self.mapping is not None:
            self.mapping.build()

    def features(self, img, mbstd_group_size=0):
        """img [N,H,W,C] -> the Dense0 activations [N,nf(0)] that the head reads.

        mbstd_group_size: the minibatch-std group of this call (0 = the network's; 1 = every image on its own, so
        an image's features do not depend on the rest of the batch, e.g. for clustering by D's features).
        """
        _check_shape(self.name, "img", img, (None, self.img_resolution, self.img_resolution, self.img_channels))

        def fromrgb(res, x, y):
            t = self.fromrgbs[res](y)
            return t if x is None else cast_to(x, t.dtype) + t

        x, y = None, img
        for r in range(self.resolution_log2, 2, -1):
            res = 2**r
            if res in self.fromrgbs:
                y = cast_to(y, self.fromrgbs[res].compute_dtype)  # ADA: img.to(dtype); downsampled in that dtype
                x = fromrgb(res, x, y)
            t = x
            x = self.conv1s[res](self.conv0s[res](x))
            if self.architecture == "resnet":
                x = (x + self.skips[res](t)) * SQRT_HALF
            if self.architecture == "skip":
                y = downsample2d(y, self._filter)
        if 4 in self.fromrgbs:
            x = fromrgb(4, x, cast_to(y, "float32"))
        x = cast_to(x, "float32")  # the epilogue runs in float32 (ADA DiscriminatorEpilogue)
        if self.mbstd is not None:
            x = self.mbstd(x, group_size=mbstd_group_size)
        x = self.conv(x)  # [N,4,4,nf(1)]
        # Flattened in NHWC order; TF1 flattens NCHW, so a weight importer must permute the rows of Dense0's weight.
        x = ops.reshape(x, (-1, 4 * 4 * self.fmaps(1)))
        return self.fc(x)

    def call(self, img, c=None):
        """img [N,H,W,C], c [N,c_dim] (read by 'projection' and 'cmap') -> scores [N,1], logits [N,c_dim] or both."""
        x = self.features(img)
        if self.head == "auxiliary":
            return self.out(x), self.cls(x)
        x = self.out(x)
        if self.head in ("projection", "cmap") and self.c_dim:
            if c is None:
                raise ValueError(f"{self.name}: the {self.head} head with c_dim={self.c_dim} needs labels c.")
            _check_shape(self.name, "c", c, (None, self.c_dim))
            c = ops.cast(c, x.dtype)
        if self.head == "projection" and self.c_dim:
            x = ops.sum(x * c, axis=1, keepdims=True)
        elif self.head == "cmap":
            cmap = self.mapping(ops.zeros((ops.shape(c)[0], 0), x.dtype), c)  # [N,cmap_dim]
            x = ops.sum(x * cmap, axis=1, keepdims=True) * (1.0 / math.sqrt(self.cmap_dim))
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            c_dim=self.c_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            fmap_base=self.fmap_base,
            fmap_decay=self.fmap_decay,
            fmap_min=self.fmap_min,
            fmap_max=self.fmap_max,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
            head=self.head,
            cmap_dim=self.cmap_dim,
            mapping_kwargs=dict(self.mapping_kwargs),
            conv_clamp=self.conv_clamp,
        )
        return config
