"""StyleGAN2 with the hinge loss (Lim & Ye 2017; Miyato et al. 2018): the smallest complete method plug-in.

    pip install -e examples/hinge_method
    python run_training.py --method hinge --hinge-margin 1.0 --data-dir datasets --dataset digits --config small
    python run_generator.py generate-images --network results/00000-hinge-... --seeds 0-7 --z-temperature 0.8
    python run_metrics.py --metrics hinge_real_margin --network results/00000-hinge-...

It brings its own training flag, generation option, sampling and metric; the loop, snapshots, resume and the three
root scripts do the rest.
"""

import numpy as np
import tensorflow as tf

from stylegan2.errors import UserError
from stylegan2.flags import Flag
from stylegan2.metrics.registry import register_metric
from stylegan2.sampling import Sampling
from stylegan2.training.method import register_method
from stylegan2.training.stylegan2_method import StyleGAN2Method


class TemperatureSampling(Sampling):
    """Generation draws z ~ N(0, T^2 I) (BigGAN-style truncation by a temperature T)."""

    def latents(self, z):
        return z * self.options["z_temperature"]


@register_method
class HingeMethod(StyleGAN2Method):
    name = "hinge"
    description = "StyleGAN2 with the hinge loss"
    flags = (Flag("hinge_margin", float, 1.0, "Margin of D's hinge loss"),)
    generation_flags = (Flag("z_temperature", float, 1.0, "Scale of z at generation"),)
    default_config = "small"

    @classmethod
    def configure(cls, options, args):
        margin = options.method_options["hinge_margin"]
        if not margin > 0:
            raise UserError(f"--hinge-margin {margin}: must be positive")

    @classmethod
    def sampling(cls, snapshot, options=None):
        return TemperatureSampling.from_metadata(snapshot.metadata, snapshot.G_ema, options)

    def describe(self):
        return f"-margin{self.options.method_options['hinge_margin']:g}"

    def g_main(self, ctx):
        images, c = self.generate(ctx)
        loss = -tf.reshape(self.discriminate(ctx.D, images, c), [-1])  # G: maximise D(G(z))
        return loss, {"Loss/G/loss": loss}

    def d_main(self, ctx, reals, labels, indices):
        margin = self.options.method_options["hinge_margin"]
        fakes, c = self.generate(ctx)
        fake = tf.reshape(self.discriminate(ctx.D, tf.stop_gradient(fakes), c), [-1])
        real = tf.reshape(self.discriminate(ctx.D, reals, ctx.loop.condition(labels)), [-1])
        loss = tf.nn.relu(margin - real) + tf.nn.relu(margin + fake)  # D: real above +margin, fakes below -margin
        return loss, {"Loss/D/loss": loss, "Loss/scores/real": real, "Loss/scores/fake": fake}


def real_margin(ctx, num_images):
    """Fraction of real images that D scores above the hinge margin."""
    margin = ctx.snapshot.metadata["method_options"]["hinge_margin"]
    scores = [np.asarray(ctx.snapshot.D(images, None)) for images in ctx.reals(ctx.count(num_images))]
    return {"hinge_real_margin": float(np.mean(np.concatenate(scores) > margin))}, {}


register_metric("hinge_real_margin", real_margin, num_images=1000)
