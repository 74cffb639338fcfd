"""IMLE as a reconstruction objective: with the adversarial term off, Inclusive GAN's G terms alone (reconstruction
and interpolation of every real image from its retrieved latent, IG:training/loss.py L19-52) make G(z_i) close to
its own image x_i and far from the others.

The run is the real one: the training loop, the method's IMLE rebuild (candidates from the training G, exact kNN,
exclusive retrieval), the rec stream paired by record index, IG's perturbation of the retrieved latents, the
method's g_main. Only D is silenced: its logits are a constant (so softplus(-D(G(z))) gives G no gradient) and D's
phases do not run.
"""

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from inclusive.method import InclusiveMethod
from stylegan2.tfrecords import TFRecordExporter
from stylegan2.training import cli
from stylegan2.training.loop import TrainingLoop
from stylegan2.training.method import register_method

NUM_IMAGES = 32  # a few dozen real digits
RESOLUTION = 8  # scikit-learn's digits are 8x8
STEPS = 800  # x 8 images per step = 200 visits of every image


@register_method
class ReconstructionOnly(InclusiveMethod):
    """Inclusive GAN with the adversarial term off: G trains on the IMLE terms alone, D never trains."""

    name = "test-inclusive-reconstruction-only"  # "test-": not listed among the installed methods
    flags = ()  # Inclusive GAN's flags stay declared once (by inclusive); the command line is parsed as inclusive's

    def discriminate(self, D, images, labels):
        return tf.zeros([tf.shape(images)[0], 1])  # arb = softplus(0): a constant, no gradient into G

    def d_main(self, ctx, reals, labels, indices):
        return None

    def d_reg(self, ctx, reals, labels, indices):
        return None


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    """The first 32 of scikit-learn's bundled 8x8 digits (all ten classes), 1 channel, as TFRecords."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("imle")
    images = np.rint(load_digits().images[:NUM_IMAGES] * (255 / 16)).astype(np.uint8)
    if RESOLUTION != 8:
        images = np.stack([np.asarray(PIL.Image.fromarray(d).resize((RESOLUTION,) * 2, PIL.Image.BICUBIC))
                           for d in images])
    with TFRecordExporter(str(root / "digits"), NUM_IMAGES, progress=False) as tfr:
        tfr.add_images(images[:, np.newaxis])
    return str(root)


def distances(G, z, reals):
    """[N, N] mean squared pixel distance between G(z_i) (no truncation, no style mixing) and real image x_j."""
    fakes = np.asarray(G(tf.constant(z)), np.float64)
    return np.mean((fakes[:, None] - reals[None].astype(np.float64)) ** 2, axis=(2, 3, 4))


def own_and_others(d):
    own = np.diag(d)
    others = d[~np.eye(len(d), dtype=bool)].reshape(len(d), len(d) - 1)
    return own, others


@pytest.mark.slow
def test_imle_terms_alone_reconstruct_each_image_from_its_latent(digits_dir, tmp_path):
    options, _ = cli.build_options([
        "--method", "inclusive", "--data-dir", digits_dir, "--dataset", "digits", "--config", "tiny", "--data-size", str(NUM_IMAGES),
        "--minibatch-gpu", "4", "--rec-loss", "l2", "--exclusive-retrieved-code", "1",
        # 32 candidates per image: exclusive retrieval then always finds a free one (32 distinct latents); one
        # rebuild, at the start, so every image keeps its latent.
        "--num-samples-factor", str(NUM_IMAGES), "--init-staleness", "100000", "--result-dir", str(tmp_path)])
    options.method = ReconstructionOnly.name
    # The CPU presets' settings: no path length regularization, no style mixing (ADA's cifar config).
    options.hparams.update(pl_weight=0.0, style_mixing_prob=0.0)
    loop = TrainingLoop(options)
    loop.prepare()
    loop.run_dir = str(tmp_path)
    method = loop.method
    method.on_start(loop)
    reals = next(loop.dataset.iterate_numpy(batch_size=NUM_IMAGES))[0]  # record i is image i (stored order)
    z = method.latents_np
    assert len(np.unique(z, axis=0)) == NUM_IMAGES

    own, others = own_and_others(distances(loop.G, z, reals))
    assert own.mean() > 0.7 * others.mean()  # untrained: G(z_i) is about as far from x_i as from any x_j

    for _ in range(STEPS):
        stats = loop.train_iteration()
        method.on_step(loop)
    assert set(stats) >= {"Loss/loss_NN_rec_lpips", "Loss/loss_NN_interp_lpips"} and "Loss/D/loss" not in stats

    own, others = own_and_others(distances(loop.G, z, reals))
    assert own.mean() < 0.4 * others.mean(), (own.mean(), others.mean())
    assert np.all(own < others.mean(axis=1))  # every image: closer to its own reconstruction than on average
    nearest = np.mean(own < others.min(axis=1))
    assert nearest >= 0.75, nearest  # mostly closer than to any other image
