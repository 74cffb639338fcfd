"""StyleGAN2's loss terms (NV:training/loss.py G_logistic_ns_pathreg, D_logistic_r1), per sample.

Each function returns per-sample values; the training step averages them over the GLOBAL batch
(`tf.nn.compute_average_loss`), which with the strategy's gradient all-reduce equals NVIDIA's mean over the
minibatch. TensorFlow only (gradients of gradients need `tf.GradientTape`).
"""

import tensorflow as tf


def g_nonsaturating(fake_logits):
    """Non-saturating logistic G loss: softplus(-D(G(z))) = -log(sigmoid(D(G(z)))). [N,1] -> [N]."""
    return tf.reshape(tf.nn.softplus(-fake_logits), [-1])


def d_logistic(real_logits, fake_logits):
    """Logistic D loss: softplus(D(G(z))) + softplus(-D(x)). -> [N]."""
    return tf.reshape(tf.nn.softplus(fake_logits), [-1]) + tf.reshape(tf.nn.softplus(-real_logits), [-1])


def r1_penalty(discriminate, reals, labels, loss_scale=None):
    """R1 (Mescheder et al. 2018): ||dD(x)/dx||^2 summed over H, W, C, per sample. Multiply by gamma/2.

    `discriminate(images, labels)` returns the logits [N,1]. The sum of logits is taken inside the inner tape
    (environment.md §3: otherwise the gradient is None). `loss_scale` (float16 training): the gradient is taken of
    the scaled sum and unscaled, so that it does not underflow in float16 layers (NVIDIA's loss.py,
    apply/undo_loss_scaling around the R1 gradient).
    """
    with tf.GradientTape() as tape:
        tape.watch(reals)
        logits = discriminate(reals, labels)
        total = tf.reduce_sum(logits)
        if loss_scale is not None:
            total = total * loss_scale
    grads = tape.gradient(total, reals)
    if loss_scale is not None:
        grads = grads / loss_scale
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]), logits


def path_lengths(synthesize, ws, noise_images, loss_scale=None):
    """Path length (Karras et al. 2020, eq. 4): || J_w^T y ||_2 with y ~ N(0, I) / sqrt(H*W), per sample.

    `synthesize(ws)` maps [N, num_ws, w_dim] to images [N,H,W,C]; `noise_images` is y before scaling, shaped like
    the images. The gradient is summed over w_dim and averaged over the num_ws layers, then square-rooted
    (NV: sqrt(mean_L(sum_512 g^2))). Returns lengths [N] and the images. `loss_scale`: as in `r1_penalty`.
    """
    with tf.GradientTape() as tape:
        tape.watch(ws)
        images = synthesize(ws)
        height, width = images.shape[1], images.shape[2]
        total = tf.reduce_sum(images * noise_images / float((height * width) ** 0.5))
        if loss_scale is not None:
            total = total * loss_scale
    grads = tape.gradient(total, ws)
    if loss_scale is not None:
        grads = grads / loss_scale
    return tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1)), images


def path_length_penalty(lengths, pl_mean, mean_length, pl_decay):
    """NV's penalty (lengths - a)^2 with a = pl_mean + pl_decay * (mean_length - pl_mean).

    As in NVIDIA's code, `a` is not detached: the penalty's gradient also flows through the batch mean.
    Returns the per-sample penalty and the new running mean (to assign to pl_mean).
    """
    new_mean = pl_mean + pl_decay * (mean_length - pl_mean)
    return tf.square(lengths - new_mean), new_mean
