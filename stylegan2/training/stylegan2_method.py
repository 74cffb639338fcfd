"""`--method stylegan2`: NVIDIA's StyleGAN2 (config-e/f): non-saturating logistic G loss with path-length
regularization, logistic D loss with R1 (NV:training/loss.py G_logistic_ns_pathreg, D_logistic_r1)."""

import tensorflow as tf

from stylegan2 import losses
from stylegan2.networks import mix_styles
from stylegan2.presets import build_networks
from stylegan2.training.method import Method, register_method


@register_method
class StyleGAN2Method(Method):
    name = "stylegan2"
    description = "StyleGAN2 (Karras et al. 2020), NVIDIA's config-e/config-f"
    d_head = None  # NVIDIA's: label projection when conditional, else one logit

    def build_networks(self, dataset):
        o = self.options
        c_dim = dataset.label_dim if o.conditional else 0
        return build_networks(o.config, dataset.resolution, dataset.channels, c_dim=c_dim, d_head=self.d_head,
                              **o.network_overrides)

    # === Generating fakes as NVIDIA's G_main does with is_training=True ===

    def sample_ws(self, ctx, global_batch=None):
        """Latents for fakes: fresh z and random dataset labels, mapped (updating w_avg, as every training-mode
        G call does in NV's G_main), style mixing with p = style_mixing_prob and one cutoff for the batch, and
        per-layer noise. Returns (ws [b, num_ws, w_dim], labels, noise list)."""
        global_batch = global_batch or ctx.global_batch
        c = ctx.random_labels(global_batch)
        ws, noise = self.training_styles(ctx, ctx.draws.normal([ctx.G.z_dim], global_batch), c, global_batch)
        return ws, c, noise

    def training_styles(self, ctx, z, c, global_batch):
        """(ws, noise) of given latents as a training-mode G call makes them: mapped (updating w_avg), style mixing
        with a fresh second latent, and fresh per-layer noise."""
        G = ctx.G
        prob = ctx.options.hparams["style_mixing_prob"]
        ws = G.mapping(z, c)
        G.update_w_avg(ws)
        if prob > 0:
            ws2 = G.mapping(ctx.draws.normal([G.z_dim], global_batch), c)
            mixing = ctx.draws.scalar() < prob
            layer = ctx.draws.scalar(1, G.num_ws, dtype=tf.int32)
            ws = mix_styles(ws, ws2, tf.where(mixing, layer, G.num_ws))
        noise = [ctx.draws.normal([h, w, 1], global_batch) for h, w in G.synthesis.noise_shapes]
        return ws, noise

    def generate(self, ctx, global_batch=None):
        """Fakes [b,H,W,C] and their labels."""
        ws, c, noise = self.sample_ws(ctx, global_batch)
        return ctx.G.synthesis(ws, noise=noise), c

    def discriminate(self, D, images, labels):
        """Real/fake logits [N,1]; methods with other D heads override this."""
        return D(images, labels)

    # === Phases ===

    def g_main(self, ctx):
        # Gmain: maximize logits for generated images.
        images, c = self.generate(ctx)
        logits = self.discriminate(ctx.D, images, c)
        loss = losses.g_nonsaturating(logits)
        return loss, {"Loss/G/loss": loss, "Loss/scores/fake": tf.reshape(logits, [-1])}

    def g_reg(self, ctx):
        # Greg: path length regularization on global_batch // pl_batch_shrink fakes.
        h = ctx.options.hparams
        if h["pl_weight"] <= 0:
            return None
        pl_batch = max(1, ctx.global_batch // h["pl_batch_shrink"])
        ws, _, noise = self.sample_ws(ctx, pl_batch)
        dataset = ctx.loop.dataset
        y = ctx.draws.normal([dataset.resolution, dataset.resolution, dataset.channels], pl_batch)
        lengths, _ = losses.path_lengths(lambda w: ctx.G.synthesis(w, noise=noise), ws, y, ctx.loss_scale)
        # The running mean takes the mean over the global PL batch (all replicas): N replicas == 1 device.
        replica_ctx = tf.distribute.get_replica_context()
        mean_length = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(lengths)) / pl_batch
        penalty, new_mean = losses.path_length_penalty(lengths, ctx.loop.pl_mean, mean_length, h["pl_decay"])
        if ctx.loss_scale is not None:
            # float16: lengths that overflowed skip the step, and must not reach the running mean either.
            new_mean = tf.where(tf.math.is_finite(new_mean), new_mean, ctx.loop.pl_mean)
        ctx.loop.pl_mean.assign(new_mean)
        loss = penalty * h["pl_weight"]
        return loss, {"Loss/pl_penalty": penalty, "Loss/G/reg": loss}

    def d_main(self, ctx, reals, labels, indices):
        # Dmain: minimize logits for generated images, maximize logits for real images.
        fakes, c = self.generate(ctx)
        fake_logits = self.discriminate(ctx.D, tf.stop_gradient(fakes), c)
        real_logits = self.discriminate(ctx.D, reals, ctx.loop.condition(labels))
        loss = losses.d_logistic(real_logits, fake_logits)
        return loss, {"Loss/D/loss": loss,
                      "Loss/scores/real": tf.reshape(real_logits, [-1]),
                      "Loss/signs/real": tf.sign(tf.reshape(real_logits, [-1])),
                      "Loss/signs/fake": tf.sign(tf.reshape(fake_logits, [-1]))}

    def d_reg(self, ctx, reals, labels, indices):
        # Dreg: R1 on real images, gamma / 2 * ||grad||^2.
        gamma = ctx.options.hparams["r1_gamma"]
        if gamma <= 0:
            return None
        penalty, _ = losses.r1_penalty(lambda x, c: self.discriminate(ctx.D, x, c), reals, ctx.loop.condition(labels),
                                       ctx.loss_scale)
        loss = penalty * (gamma * 0.5)
        return loss, {"Loss/r1_penalty": penalty, "Loss/D/reg": loss}
