"""AC-GAN's loss terms (Odena, Olah & Shlens 2017, eqs. 2-3), per sample, from D's two heads' logits.

    L_S = E[log P(S=real | x_real)] + E[log P(S=fake | x_fake)]
    L_C = E[log P(C=c | x_real)] + E[log P(C=c | x_fake)]
    D maximises L_S + L_C; G maximises L_C - L_S, written non-saturating as the original's code does:

    D: softplus(-s(x)) + softplus(s(G(z,c))) + w_real CE(l(x), y) + w_fake CE(l(G(z,c)), c)
    G: softplus(-s(G(z,c))) + w_g CE(l(G(z,c)), c)

s is the source (real/fake) logit [N,1], l the class logits [N,C], y and c one-hot labels; softplus(-s) =
-log(sigmoid(s)) is the original's nn.BCELoss on nn.Sigmoid outputs, CE(l, y) = -log(softmax(l)[y]).

The original (gitlimlab/ACGAN-PyTorch main.py, network.py) feeds nn.Softmax probabilities to nn.NLLLoss, which
expects log-probabilities, so its class term is -softmax(l)[y], not the cross-entropy (clvrai/ACGAN-PyTorch issues #3
and #8, PR #4). `legacy=True` computes exactly what the original computes: the class term -p_y and the source term
as nn.BCELoss evaluates it on sigmoid outputs, -max(log p, -100), so logits whose sigmoid rounds to 0 or 1 in float32
give the clamped 100 of PyTorch instead of the exact softplus.
"""

import tensorflow as tf

BCE_LOG_CLAMP = -100.0  # torch.nn.BCELoss clamps its log terms at -100


def _flat(x):
    return tf.reshape(x, [-1])


def _neg_log_clamped(q):
    """-max(log q, -100) for q in [0,1], with a finite gradient where q = 0 (the clamped branch gets none)."""
    positive = q > 0
    log_q = tf.math.log(tf.where(positive, q, tf.ones_like(q)))
    return -tf.where(positive & (log_q > BCE_LOG_CLAMP), log_q, BCE_LOG_CLAMP * tf.ones_like(q))


def source_loss(logits, real, legacy=False):
    """-log P(S = real) for `real`, else -log P(S = fake), per sample. logits [N,1] -> [N]."""
    logits = _flat(logits)
    if legacy:
        p = tf.sigmoid(logits)  # the original's nn.Sigmoid, then nn.BCELoss
        return _neg_log_clamped(p if real else 1.0 - p)
    return tf.nn.softplus(-logits if real else logits)


def class_loss(logits, labels, legacy=False):
    """The auxiliary classifier's term per sample: CE(logits, labels), or with `legacy` the original's -softmax[y].

    logits [N,C]; labels [N,C] one-hot (float)."""
    labels = tf.cast(labels, logits.dtype)
    if legacy:
        return -tf.reduce_sum(tf.nn.softmax(logits, axis=1) * labels, axis=1)  # nn.NLLLoss(nn.Softmax(l), y)
    return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def accuracy(logits, labels):
    """1.0 where argmax(logits) is the labelled class, else 0.0 (the original's compute_acc, as a fraction)."""
    return tf.cast(tf.equal(tf.argmax(logits, axis=1), tf.argmax(labels, axis=1)), tf.float32)


def d_loss(real_source, real_classes, real_labels, fake_source, fake_classes, fake_labels, w_real=1.0, w_fake=1.0,
           legacy=False):
    """D's loss per sample and its terms: source (real + fake) + w_real CE(real) + w_fake CE(fake)."""
    source = source_loss(real_source, True, legacy) + source_loss(fake_source, False, legacy)
    aux_real = class_loss(real_classes, real_labels, legacy)
    aux_fake = class_loss(fake_classes, fake_labels, legacy)
    return source + w_real * aux_real + w_fake * aux_fake, {"source": source, "aux_real": aux_real,
                                                             "aux_fake": aux_fake}


def g_loss(fake_source, fake_classes, fake_labels, w_g=1.0, legacy=False):
    """G's loss per sample and its terms: non-saturating source + w_g CE(fake classes, sampled labels)."""
    source = source_loss(fake_source, True, legacy)
    aux = class_loss(fake_classes, fake_labels, legacy)
    return source + w_g * aux, {"source": source, "aux": aux}
