"""LIS networks on the StyleGAN2 backbone: the mapping network with LIS modules, the generator that uses it, the
image -> z encoder R (R-separate, R-iterative) and the G -> R -> G chain used to sample with R.

    z -> [LIS_1 .. LIS_N] -> z' -> mapping (pixel norm, FC layers) -> w -> broadcast     lis_space 'z' (default)
    z -> mapping -> w -> [LIS_1 .. LIS_N] -> w' -> broadcast                              lis_space 'w'

The original puts the modules between z and G's first layer (reference B.2, B.11); 'z' keeps that place in front
of StyleGAN2's mapping network. Because `G.mapping` runs them, the training loop, run_generator.py, run_metrics.py
and the projector see LIS without special cases; `mapping.depth` (all N modules by default, the original's eval
mode) is the depth they sample at, set by `lis.method.LISSampling.prepare` from `--depth`.
"""

import math

import keras
from keras import ops

from stylegan2.layers import Conv2dLayer, FullyConnected
from stylegan2.networks import Generator, MappingNetwork, SQRT_HALF, nf

from lis.layers import LISModule

SPACES = ("z", "w")


@keras.saving.register_keras_serializable(package="lis")
class LISMappingNetwork(MappingNetwork):
    """StyleGAN2's mapping network with N chained LIS modules on z (before it) or on w (after it).

    `call(z, c, depth=None)` -> ws like MappingNetwork, running the first `depth` modules (None: `self.depth`, all N
    unless generation set it). `map_with_codes(z, c, depth)` also returns the LIS input (z, or w before LIS) and the
    module outputs, for the similarity loss; a tensor depth (training's stochastic depth) runs every module and
    selects the output after `depth` of them, so only the executed modules reach the images.
    """

    def __init__(
        self,
        lis_modules=3,              # N, the original's --r_iterations.
        lis_space="z",              # 'z': modules before the mapping network; 'w': after it.
        lis_norm="weight",          # 'weight' (WN dense + TPReLU), 'weight-affine', 'none' (see lis.layers).
        lis_lr_multiplier=0.01,     # Learning-rate multiplier of the modules' parameters.
        **kwargs,
    ):
        super().__init__(**kwargs)
        if lis_space not in SPACES:
            raise ValueError(f"LISMappingNetwork: unknown lis_space {lis_space!r}; valid: {', '.join(SPACES)}.")
        self.lis_modules = int(lis_modules)
        self.lis_space = lis_space
        self.lis_norm = lis_norm
        self.lis_lr_multiplier = float(lis_lr_multiplier)
        self.lis_width = self.z_dim if lis_space == "z" else self.w_dim
        self.lis = [LISModule(self.lis_width, lis_norm, lis_lr_multiplier, name=f"lis{i}", dtype=self.dtype_policy)
                    for i in range(self.lis_modules)]
        self.depth = self.lis_modules  # modules run when no depth is given (generation, metrics)

    def build(self, input_shape=None):
        super().build(input_shape)
        for module in self.lis:
            module.build((None, self.lis_width))

    def lis_codes(self, x, depth):
        """(output, codes): codes = the outputs of the first `depth` modules (an int), or of all N with output the
        one after `depth` of them (a scalar int tensor); output = x when depth is 0."""
        if isinstance(depth, int):
            if not 0 <= depth <= self.lis_modules:
                raise ValueError(f"{self.name}: depth {depth} outside 0..{self.lis_modules}.")
            codes = []
            for module in self.lis[:depth]:
                x = module(x)  # x = x + module_i(x); lis_results.append(x)
                codes.append(x)
            return (codes[-1] if codes else x), codes
        codes = []
        out = x
        for module in self.lis:
            out = module(out)
            codes.append(out)
        if not codes:
            return x, codes
        return ops.take(ops.stack([x] + codes), depth, axis=0), codes

    def map_with_codes(self, z, c=None, depth=None):
        """(ws [N,num_ws,w_dim], base, codes): base = the LIS input (z, or w before LIS), codes = module outputs."""
        depth = self.depth if depth is None else depth
        if self.lis_space == "z":
            x, codes = self.lis_codes(z, depth)
            return super().call(x, c), z, codes
        w = super().call(z, c)[:, 0]
        x, codes = self.lis_codes(w, depth)
        return ops.repeat(ops.expand_dims(x, 1), self.num_ws, axis=1), w, codes

    def call(self, z, c=None, depth=None):
        return self.map_with_codes(z, c, depth)[0]

    def get_config(self):
        config = super().get_config()
        config.update(lis_modules=self.lis_modules, lis_space=self.lis_space, lis_norm=self.lis_norm,
                      lis_lr_multiplier=self.lis_lr_multiplier)
        return config


@keras.saving.register_keras_serializable(package="lis")
class Encoder(keras.Model):
    """R: images [N,H,W,C] -> z [N,z_dim], the original's `build_reverser` on StyleGAN2's D trunk.

    StyleGAN2 discriminator blocks (FromRGB at the top resolution; per resolution conv0 3x3, conv1 3x3 down 2, a
    1x1 skip for 'resnet'), then at 4x4 a 3x3 conv, flatten, a dense layer (lrelu) and a linear dense layer to z
    (no output activation: the original's tanh is commented out). No minibatch std: an encoder reads each image
    alone. The original builds R with half of D's first-layer features; the caller passes D's fmap_base / 2.

    Spatial dropout (the original's Dropout2d after every level but the first): whole channels are zeroed with
    probability `spatial_dropout` and the others scaled by 1 / (1 - p), after every block but the first and after
    the 4x4 conv. It needs explicit randomness, `dropout_noise`: a list of U[0,1) tensors of shapes
    [N, 1, 1, C] for C in `dropout_channels` (so training draws it from its seeded generators); without it, none
    (inference: the original samples with R in eval mode).
    """

    def __init__(
        self,
        z_dim=512,                  # Output (latent) dimensionality.
        img_resolution=32,          # Input resolution, a power of 2 >= 4.
        img_channels=3,             # Input color channels.
        architecture="resnet",      # 'orig' or 'resnet' blocks.
        fmap_base=8192,             # Feature maps: nf(stage) = clip(fmap_base / 2^stage, 1, fmap_max).
        fmap_max=256,               # Maximum feature maps.
        spatial_dropout=0.0,        # Channel dropout probability (the original's --spatial_dropout_r).
        metadata=None,              # JSON-able record of how it was trained (lis.train_r).
        **kwargs,
    ):
        super().__init__(**kwargs)
        if architecture not in ("orig", "resnet"):
            raise ValueError(f"Encoder: unknown architecture {architecture!r}; valid: orig, resnet.")
        self.z_dim = z_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.fmap_base = fmap_base
        self.fmap_max = fmap_max
        self.spatial_dropout = float(spatial_dropout)
        self.metadata = dict(metadata or {})
        self.resolution_log2 = int(math.log2(img_resolution))

        def conv(filters, kernel, name, **conv_kwargs):
            return Conv2dLayer(filters, kernel, name=name, dtype=self.dtype_policy, **conv_kwargs)

        top = self.resolution_log2
        self.fromrgb = conv(self.fmaps(top - 1), 1, f"b{img_resolution}.fromrgb", activation="lrelu")
        self.resolutions = [2**r for r in range(top, 2, -1)]
        self.conv0s, self.conv1s, self.skips = [], [], []
        for res in self.resolutions:
            r = int(math.log2(res))
            self.conv0s.append(conv(self.fmaps(r - 1), 3, f"b{res}.conv0", activation="lrelu"))
            self.conv1s.append(conv(self.fmaps(r - 2), 3, f"b{res}.conv1", activation="lrelu", down=2))
            if architecture == "resnet":
                self.skips.append(conv(self.fmaps(r - 2), 1, f"b{res}.skip", bias=False, down=2))
        self.conv = conv(self.fmaps(1), 3, "b4.conv", activation="lrelu")
        self.fc = FullyConnected(self.fmaps(0), activation="lrelu", name="b4.fc", dtype=self.dtype_policy)
        self.out = FullyConnected(z_dim, name="b4.out", dtype=self.dtype_policy)

    def fmaps(self, stage):
        return nf(stage, self.fmap_base, 1.0, 1, self.fmap_max)

    @property
    def dropout_channels(self):
        """Channels of each spatial-dropout point: every block after the first, then the 4x4 conv."""
        return [self.fmaps(int(math.log2(res)) - 2) for res in self.resolutions[1:]] + [self.fmaps(1)]

    def build(self, input_shape=None):
        self.fromrgb.build((None, self.img_resolution, self.img_resolution, self.img_channels))
        for i, res in enumerate(self.resolutions):
            shape = (None, res, res, self.fmaps(int(math.log2(res)) - 1))
            self.conv0s[i].build(shape)
            self.conv1s[i].build(shape)
            if self.skips:
                self.skips[i].build(shape)
        self.conv.build((None, 4, 4, self.fmaps(1)))
        self.fc.build((None, 16 * self.fmaps(1)))
        self.out.build((None, self.fmaps(0)))
        self.built = True

    def _dropout(self, x, noise):
        keep = ops.cast(noise >= self.spatial_dropout, x.dtype) / (1.0 - self.spatial_dropout)
        return x * keep

    def call(self, img, dropout_noise=None):
        use_dropout = dropout_noise is not None and self.spatial_dropout > 0
        if use_dropout and len(dropout_noise) != len(self.dropout_channels):
            raise ValueError(f"{self.name}: {len(dropout_noise)} dropout noise tensors, expected "
                             f"{len(self.dropout_channels)} (see dropout_channels).")
        noise = iter(dropout_noise or [])
        x = self.fromrgb(img)
        for i in range(len(self.resolutions)):
            t = x
            x = self.conv1s[i](self.conv0s[i](x))
            if self.skips:
                x = (x + self.skips[i](t)) * SQRT_HALF
            if i > 0 and use_dropout:
                x = self._dropout(x, next(noise))
        x = self.conv(x)
        if use_dropout:
            x = self._dropout(x, next(noise))
        x = ops.reshape(x, (-1, 16 * self.fmaps(1)))
        return self.out(self.fc(x))

    def get_config(self):
        config = super().get_config()
        config.update(z_dim=self.z_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                      architecture=self.architecture, fmap_base=self.fmap_base, fmap_max=self.fmap_max,
                      spatial_dropout=self.spatial_dropout, metadata=self.metadata)
        return config


@keras.saving.register_keras_serializable(package="lis")
class LISGenerator(Generator):
    """StyleGAN2's Generator whose mapping network carries the LIS modules (`mapping_kwargs`: lis_modules,
    lis_space, lis_norm, lis_lr_multiplier), and for R-iterative an encoder `reverser` (R), trained with G by the
    loop's G optimizer and averaged into G_ema with it."""

    mapping_class = LISMappingNetwork

    def __init__(self, reverser_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.reverser_kwargs = dict(reverser_kwargs) if reverser_kwargs else None
        self.reverser = None
        if self.reverser_kwargs:
            self.reverser = Encoder(z_dim=self.z_dim, img_resolution=self.img_resolution,
                                    img_channels=self.img_channels, name="reverser", dtype=self.dtype_policy,
                                    **self.reverser_kwargs)

    def build(self, input_shape=None):
        super().build(input_shape)
        if self.reverser is not None:
            self.reverser.build()

    def get_config(self):
        config = super().get_config()
        config.update(reverser_kwargs=self.reverser_kwargs)
        return config


class ChainedGenerator:
    """G sampled through `rounds` trips G -> R -> G: z -> G(z) -> R(image) -> ... -> G(z_rounds) (R-separate's
    repair G(R(G(z))) with rounds = 1; R-iterative's depth r).

    It offers the generator interface the samplers use (`mapping`, `synthesis`, `truncate`, `__call__`, sizes):
    `mapping(z, c)` runs the inner rounds (no truncation, each layer's stored constant noise, so an image depends on
    its z alone) and returns the ws of the last round, which the caller truncates and synthesizes as usual.
    """

    def __init__(self, G, R, rounds):
        self.G, self.R, self.rounds = G, R, int(rounds)
        for name in ("z_dim", "c_dim", "w_dim", "num_ws", "img_resolution", "img_channels", "synthesis"):
            setattr(self, name, getattr(G, name))

    @property
    def w_avg(self):
        return self.G.w_avg

    def truncate(self, ws, truncation_psi=1.0, truncation_cutoff=None):
        return self.G.truncate(ws, truncation_psi, truncation_cutoff)

    def update_w_avg(self, ws):
        raise TypeError("ChainedGenerator is for sampling; train the underlying G")

    def mapping(self, z, c=None):
        ws = self.G.mapping(z, c)
        for _ in range(self.rounds):
            ws = self.G.mapping(self.R(self.G.synthesis(ws, noise_mode="const")), c)
        return ws

    def __call__(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise=None, noise_mode=None,
                 fused_modconv=None):
        ws = self.truncate(self.mapping(z, c), truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise=noise, noise_mode=noise_mode, fused_modconv=fused_modconv)
