"""`--method acgan`: AC-GAN (Odena, Olah & Shlens, ICML 2017; gitlimlab/ACGAN-PyTorch) on the generic training loop.

G is class-conditional; D says real or fake (the source head) and which class (the auxiliary classifier head, on the
same final features); G is rewarded for fakes that D classifies as their conditioning class (acgan.losses):

    D: softplus(-s(x)) + softplus(s(G(z,c))) + w [CE(l(x), y) + CE(l(G(z,c)), c)]      (+ R1 on s only)
    G: softplus(-s(G(z,c))) + w CE(l(G(z,c)), c)                                          (+ path length)

Networks (`--arch`):
  stylegan2     the backbone: the label enters through the mapping network's embedding (TF1 LabelConcat); D keeps
                its trunk and replaces the projection output with two heads on the Dense0 features, `b4.out` (source
                logit) and `b4.cls` (class logits) (stylegan2.networks.Discriminator head='auxiliary'); the config's
                StyleGAN2 training (R1, path length, style mixing with one label for both latents, EMA, lazy
                regularization).
  acgan_dcgan   the original's DCGAN-style _netG/_netD (acgan.dcgan) with the original's training: Adam(2e-4, 0.5,
                0.999), batch 100, no R1, no path length, no style mixing, no EMA (G_ema = G).

Fakes' classes are uniform (the original) or drawn from the dataset's class distribution (`--fake-labels dataset`);
generation draws them the same way (the snapshot records it), and `run_generator.py --class K` picks one. Every tick
logs the auxiliary head's accuracy on the reals (`Acc/real`, the original's compute_acc as a fraction) and on the
fakes against their conditioning classes (`Acc/fake`). Besides the loop's reals/fakes grids, every snapshot writes
`fakes-classes<kimg>.png`: a row per class, the same z in each column.

Differences from the original's loop, from the shared training loop: per iteration G steps before D (NVIDIA's order)
and each phase draws its own fakes, where the original steps D, then G on the same fakes; training length, ticks and
snapshots are in kimg (`--niter` epochs are converted).
"""

import os

import numpy as np
import tensorflow as tf

from acgan import dcgan, losses
from acgan import metrics as _metrics  # noqa: F401  (registers class_accuracy_10k, is50k_classes, msssim_classes)
from stylegan2.errors import UserError
from stylegan2.flags import Flag, finite_float, str2bool
from stylegan2.images import save_grid
from stylegan2.losses import r1_penalty
from stylegan2.presets import build_networks
from stylegan2.tfrecords import read_dataset_info
from stylegan2.training.method import register_method
from stylegan2.training.stylegan2_method import StyleGAN2Method

ARCHS = ("stylegan2", "acgan_dcgan")
NEEDS_LABELS = ("AC-GAN needs a class-labelled dataset (e.g. dataset_tool.py create_mnist, create_cifar10, "
                "create_from_images --labels_from_dirs)")
FAKE_LABELS = ("uniform", "dataset")
CLASS_GRID = "fakes-classes{kimg}.png"
CLASS_GRID_COLS = 10
DEFAULT_NITER = 25  # the original's --niter (epochs)

# NVIDIA ADA's `cifar` configuration (stylegan2-ada-pytorch train.py cfg_specs['cifar']: map=2, mbstd=32, ema=500,
# ramp=0.05, gamma=0.01; style mixing 0, pl_weight 0 "disable path length regularization"); its lr, batch, map and
# gamma are left to the config. The `small` config takes all of these choices itself, so there the flag changes nothing.
ADA_CIFAR = dict(pl_weight=0.0, style_mixing_prob=0.0, mbstd_group_size=32, ema_kimg=500.0, ema_rampup=0.05)

# The original's training hyper-parameters (main.py), for --arch acgan_dcgan.
DCGAN_TRAINING = dict(lr=2e-4, betas=(0.5, 0.999), batch=100, nz=110)

FLAGS = (
    Flag("arch", str, "stylegan2", "Networks: stylegan2 (the backbone with an auxiliary classifier head) or "
                                   "acgan_dcgan (the original's DCGAN-style _netG/_netD and training)", choices=ARCHS),
    Flag("aux_weight", finite_float, 1.0, "Weight of the auxiliary classifier's cross-entropy terms (D on reals and "
                                          "fakes, G)"),
    Flag("aux_weight_d_fake", finite_float, None, "Weight of D's cross-entropy on fakes; None: --aux-weight"),
    Flag("aux_weight_g", finite_float, None, "Weight of G's cross-entropy; None: --aux-weight"),
    Flag("fake_labels", str, "uniform", "Classes of the fakes, in training and generation: uniform (the original) or "
                                        "dataset (the dataset's class frequencies)", choices=FAKE_LABELS),
    Flag("legacy_softmax_nll", str2bool, False, "The original's loss, for exact replication: NLLLoss on softmax "
                                                "probabilities (class term -p_y, not cross-entropy) and BCELoss on "
                                                "sigmoid outputs", metavar="BOOL"),
    Flag("ada_cifar", str2bool, False, "--arch stylegan2: NVIDIA ADA's `cifar` configuration's training choices for "
                                       "small data: no path length, no style mixing, minibatch-std group 32, EMA "
                                       "half-life min(500 kimg, 0.05 x images seen)", metavar="BOOL"),
    # The original's flags (main.py), mapped onto this project's options.
    Flag("nz", int, None, "Size of z; None: 110 for acgan_dcgan (its first num_classes entries hold the one-hot "
                          "class), the config's latent size for stylegan2"),
    Flag("niter", int, None, f"Training length in epochs: --total-kimg = niter x images / 1000; None: "
                             f"{DEFAULT_NITER} when --total-kimg is not given"),
    Flag("beta1", finite_float, None, "Adam beta1; None: 0.5 for acgan_dcgan, the config's for stylegan2"),
    Flag("batchSize", int, None, "The original's name for --batch; None: 100 for acgan_dcgan, the config's for "
                                 "stylegan2"),
    Flag("imageSize", int, None, "Image size, checked against the dataset (dataset_tool.py makes it at its size); "
                                 "None: the dataset's"),
    Flag("num_classes", int, None, "Number of classes, checked against the dataset's; None: the dataset's",
         spelling="--num_classes"),
    Flag("manualSeed", int, None, "The original's name for --seed (overrides it); None: --seed"),
)


def acgan_options(method_options):
    """The method's options with the per-term weights resolved."""
    m = dict(method_options)
    for key in ("aux_weight_d_fake", "aux_weight_g"):
        if m.get(key) is None:
            m[key] = m["aux_weight"]
    return m


def _check(condition, message):
    if not condition:
        raise UserError(message)


@register_method
class ACGANMethod(StyleGAN2Method):
    name = "acgan"
    description = "AC-GAN (Odena et al. 2017): class-conditional G, auxiliary classifier in D"
    flags = FLAGS
    d_head = "auxiliary"

    @classmethod
    def configure(cls, options, args):
        """AC-GAN is always class-conditional; the original's flags set the shared options; --arch acgan_dcgan
        takes the original's training hyper-parameters where the command line leaves them unset."""
        m = options.method_options
        h = options.hparams
        options.conditional = True
        _check(m["aux_weight"] >= 0, f"--aux-weight {m['aux_weight']}: must be non-negative")
        for key in ("aux_weight_d_fake", "aux_weight_g"):
            _check(m[key] is None or m[key] >= 0, f"--{key.replace('_', '-')} {m[key]}: must be non-negative")
        _check(not (m["ada_cifar"] and m["arch"] == "acgan_dcgan"),
               "--ada-cifar: sets StyleGAN2 training choices; drop it with --arch acgan_dcgan")
        if m["ada_cifar"]:
            h.update(ADA_CIFAR)  # --gamma and --lr stay the command line's or the config's
        if m["batchSize"] is not None:
            _check(args.batch is None and args.minibatch_gpu is None,
                   "--batchSize and --batch/--minibatch-gpu: give one of them")
            options.batch = m["batchSize"]
        if m["manualSeed"] is not None:
            options.seed = m["manualSeed"]
        if m["niter"] is not None:
            _check(args.total_kimg is None, "--niter and --total-kimg: give one of them (--niter counts epochs)")
            _check(m["niter"] >= 1, f"--niter {m['niter']}: must be at least 1")
        _check(m["nz"] is None or m["nz"] >= 1, f"--nz {m['nz']}: must be positive")

        if m["arch"] == "acgan_dcgan":
            _check(args.config is None, f"--config {args.config}: --arch acgan_dcgan trains the original's networks, "
                                        f"not a StyleGAN2 preset; drop --config")
            options.config = "acgan_dcgan"  # names the run directory; the preset's networks are not used
            if args.lr is None:  # the backbone's --lr (the original's flag too) overrides it
                h["lr"] = DCGAN_TRAINING["lr"]
            h["betas"] = DCGAN_TRAINING["betas"]  # --beta1 below overrides beta1
            if args.gamma is None:
                h["r1_gamma"] = 0.0  # the original has no R1; --gamma > 0 adds it (lazily, every 16 D steps)
            h.update(pl_weight=0.0, style_mixing_prob=0.0, ema_kimg=0.0, ema_rampup=None, G_reg_interval=0,
                     mbstd_group_size=0)
            h["D_reg_interval"] = h["D_reg_interval"] if h["r1_gamma"] > 0 else 0
            if m["batchSize"] is None and args.batch is None and args.minibatch_gpu is None:
                options.batch = DCGAN_TRAINING["batch"]
            options.batch_gpu = args.batch_gpu  # batch norm sees the whole batch unless --batch-gpu asks otherwise
        if m["beta1"] is not None:
            _check(0 <= m["beta1"] < 1, f"--beta1 {m['beta1']}: must be in [0, 1)")
            h["betas"] = (m["beta1"], h["betas"][1])

        # The dataset: labels (before the loop's --cond check, whose message names a flag AC-GAN implies), epochs,
        # and the original's size and class-count flags.
        info = read_dataset_info(options.dataset_path)
        _check(info.label_dim, f"{info.path}: no labels; {NEEDS_LABELS}")
        if m["imageSize"] is not None:
            _check(m["imageSize"] == info.resolution,
                   f"--imageSize {m['imageSize']}: {info.path} holds {info.resolution}x{info.resolution} images; "
                   f"make the dataset at the size you want with dataset_tool.py")
        if m["num_classes"] is not None:
            _check(m["num_classes"] == info.label_dim,
                   f"--num_classes {m['num_classes']}: {info.path} has {info.label_dim} classes; the auxiliary head "
                   f"has one output per dataset class")
        if args.total_kimg is None:
            epochs = m["niter"] if m["niter"] is not None else DEFAULT_NITER
            options.total_kimg = epochs * info.num_images / 1000

    def __init__(self, options):
        super().__init__(options)
        self.opts = acgan_options(options.method_options)
        self.arch = self.opts["arch"]
        self.legacy = bool(self.opts["legacy_softmax_nll"])
        self.c_dim = None

    def describe(self):
        m = self.opts
        return ("-legacy" if self.legacy else "") + ("-dslabels" if m["fake_labels"] == "dataset" else "")

    # === Networks ===

    def build_networks(self, dataset):
        o, m = self.options, self.opts
        if not dataset.label_dim:
            raise UserError(f"{dataset.path}: no labels; {NEEDS_LABELS}")
        dataset.class_numbers()  # one class per image, or a one-line error
        self.c_dim = dataset.label_dim
        if self.arch == "acgan_dcgan":
            return dcgan.build_networks(dataset.resolution, dataset.channels, self.c_dim,
                                        z_dim=m["nz"] or DCGAN_TRAINING["nz"])
        overrides = dict(o.network_overrides)
        overrides["D_kwargs"] = {"mbstd_group_size": o.hparams["mbstd_group_size"], **overrides.get("D_kwargs", {})}
        if m["nz"]:
            overrides["G_kwargs"] = {**overrides.get("G_kwargs", {}), "z_dim": m["nz"]}
        return build_networks(o.config, dataset.resolution, dataset.channels, c_dim=self.c_dim, d_head="auxiliary",
                              **overrides)

    # === Fakes ===

    def fake_labels(self, ctx, global_batch):
        """One-hot classes of fakes [b, C]: uniform (the original's np.random.randint) or the label rows of uniformly
        drawn dataset records (the dataset's class frequencies)."""
        if self.opts["fake_labels"] == "dataset":
            return ctx.random_labels(global_batch)
        classes = ctx.draws.uniform([], global_batch, minval=0, maxval=self.c_dim, dtype=tf.int64)
        return tf.one_hot(classes, self.c_dim, dtype=tf.float32)

    def sample_ws(self, ctx, global_batch=None):
        """Latents of fakes as StyleGAN2Method's, with AC-GAN's class draw (style mixing keeps the label)."""
        global_batch = global_batch or ctx.global_batch
        c = self.fake_labels(ctx, global_batch)
        ws, noise = self.training_styles(ctx, ctx.draws.normal([ctx.G.z_dim], global_batch), c, global_batch)
        return ws, c, noise

    def generate(self, ctx, global_batch=None):
        ws, c, noise = self.sample_ws(ctx, global_batch)
        return ctx.G.synthesis(ws, noise=noise, training=True), c  # training: batch statistics (acgan_dcgan)

    def discriminate(self, ctx, images, global_batch=None):
        """(source logits [b,1], class logits [b,C]) of D in training mode; the DCGAN D's dropout uniforms are drawn
        from ctx.draws for the global batch."""
        D = ctx.D
        if self.arch != "acgan_dcgan":
            return D(images, training=True)
        global_batch = global_batch or ctx.global_batch
        dropout = [ctx.draws.uniform(list(shape), global_batch) for shape in D.dropout_shapes]
        return D(images, dropout=dropout, training=True)

    # === Phases ===

    def g_main(self, ctx):
        # Gmain: fakes D takes for real and classifies as their conditioning class.
        images, c = self.generate(ctx)
        source, classes = self.discriminate(ctx, images)
        loss, terms = losses.g_loss(source, classes, c, self.opts["aux_weight_g"], self.legacy)
        return loss, {"Loss/G/loss": loss, "Loss/G/source": terms["source"], "Loss/G/aux": terms["aux"],
                      "Loss/scores/fake": tf.reshape(source, [-1])}

    def d_main(self, ctx, reals, labels, indices):
        # Dmain: source real/fake, and the class of reals (their labels) and of fakes (their sampled classes).
        fakes, c = self.generate(ctx)
        fake_source, fake_classes = self.discriminate(ctx, tf.stop_gradient(fakes))
        real_source, real_classes = self.discriminate(ctx, reals)
        m = self.opts
        loss, terms = losses.d_loss(real_source, real_classes, labels, fake_source, fake_classes, c,
                                    m["aux_weight"], m["aux_weight_d_fake"], self.legacy)
        real_scores, fake_scores = tf.reshape(real_source, [-1]), tf.reshape(fake_source, [-1])
        return loss, {"Loss/D/loss": loss, "Loss/D/source": terms["source"], "Loss/D/aux_real": terms["aux_real"],
                      "Loss/D/aux_fake": terms["aux_fake"], "Loss/scores/real": real_scores,
                      "Loss/signs/real": tf.sign(real_scores), "Loss/signs/fake": tf.sign(fake_scores),
                      "Acc/real": losses.accuracy(real_classes, labels), "Acc/fake": losses.accuracy(fake_classes, c)}

    def d_reg(self, ctx, reals, labels, indices):
        # Dreg: R1 on the source head only, gamma / 2 * ||d s(x) / dx||^2 (the class logits are not regularized).
        gamma = ctx.options.hparams["r1_gamma"]
        if gamma <= 0:
            return None
        if self.arch == "acgan_dcgan":
            D = ctx.D
            dropout = [ctx.draws.uniform(list(shape), ctx.global_batch) for shape in D.dropout_shapes]
            source = lambda x, c: D(x, dropout=dropout, training=True)[0]  # noqa: E731
        else:
            source = lambda x, c: ctx.D(x, training=True)[0]  # noqa: E731
        penalty, _ = r1_penalty(source, reals, None)
        loss = penalty * (gamma * 0.5)
        return loss, {"Loss/r1_penalty": penalty, "Loss/D/reg": loss}

    # === Sampling, grids ===

    def class_probs(self, loop):
        """The dataset's class frequencies."""
        counts = np.bincount(loop.dataset.class_numbers(), minlength=loop.dataset.label_dim)
        return (counts / counts.sum()).tolist()

    def sampling_metadata(self, loop):
        if self.opts["fake_labels"] == "dataset":
            return {"labels": "empirical", "probs": self.class_probs(loop)}
        return {"labels": "uniform"}

    def grid_labels(self, loop, real_labels):
        """The original's eval labels: random classes (uniform, seeded), or the grid reals' own labels with
        --fake-labels dataset."""
        if self.opts["fake_labels"] == "dataset":
            return real_labels
        classes = np.random.RandomState(self.options.seed).randint(loop.dataset.label_dim, size=len(real_labels))
        return np.eye(loop.dataset.label_dim, dtype=np.float32)[classes]

    def on_start(self, loop):
        G = loop.G
        rnd = np.random.RandomState([self.options.seed, 1])
        z = rnd.randn(CLASS_GRID_COLS, G.z_dim).astype(np.float32)
        noise = [rnd.randn(CLASS_GRID_COLS, h, w, 1).astype(np.float32) for h, w in G.synthesis.noise_shapes]
        classes = loop.dataset.label_dim
        self.class_grid_z = np.tile(z, (classes, 1))  # row k: class k, the same z in each column
        self.class_grid_noise = [np.tile(n, (classes, 1, 1, 1)) for n in noise]
        self.class_grid_c = np.repeat(np.eye(classes, dtype=np.float32), CLASS_GRID_COLS, axis=0)
        if loop.is_chief and loop.nimg == 0:
            self.save_class_grid(loop, "_init")

    def save_class_grid(self, loop, kimg_tag):
        """fakes-classes<kimg>.png from G_ema: a row per class, a column per fixed z."""
        images = []
        for start in range(0, len(self.class_grid_z), 100):
            sl = slice(start, start + 100)
            images.append(np.asarray(loop.G_ema(self.class_grid_z[sl], self.class_grid_c[sl],
                                                noise=[n[sl] for n in self.class_grid_noise])))
        save_grid(np.concatenate(images), os.path.join(loop.run_dir, CLASS_GRID.format(kimg=kimg_tag)),
                  cols=CLASS_GRID_COLS)

    def on_snapshot(self, loop, kimg):
        self.save_class_grid(loop, loop.kimg_tag())
