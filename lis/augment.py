"""`--augment` presets of g_lis/main.py (imgaug), in tf.image ops on images in [-1, 1].

Every preset, `none` included, flips horizontally with p = 0.5 (the original's RandomHorizontalFlip): that is the
backbone's mirror flip (`--mirror-augment`, which `--augment` turns on). The others add an imgaug
`Sequential([Sometimes(0.5, op), ...], random_order=True)`: each listed op applies with p = 0.5, in a random order,
drawn per image:

  noise     AdditiveGaussianNoise(scale U(0, 0.035 * 255), per_channel=False): on 0..255 pixels, so sigma U(0, 0.07)
            here, one value per pixel shared by the channels;
  multiply  Multiply(U(0.9, 1.1)) of the 0..255 value v: (x + 1) m - 1 here;
  contrast  ContrastNormalization(U(0.9, 1.1)): a (v - 128) + 128, i.e. a (x - c) + c around c = 128 / 127.5 - 1;
  affine    Affine(scale x, y U(0.9, 1.1) each, rotate U(-15, 15) deg, mode symmetric) (flowers102, 10kcats), or
            Affine(translate x, y U(-10%, 10%), scale U(0.9, 1.1), rotate U(-1, 1) deg, mode constant 0 = black)
            (lsun_churches), about the image centre.

Each op ends with imgaug's clip to the pixel range ([-1, 1] here). Differences: imgaug rounds to uint8 after each op
(not here); the Affine of flowers102/10kcats interpolates bicubically (order 3) and TF's projective transform offers
bilinear only (used for both). Randomness is per image from the pipeline's key (a hash of seed, epoch and record),
so the augmented stream is a pure function of the seed and position, like the mirror flips.
"""

import math

import tensorflow as tf

NOISE, MULTIPLY, CONTRAST, AFFINE_SYMMETRIC, AFFINE_CONSTANT = range(5)
PRESETS = {
    "none": (),
    "cifar10": (NOISE, MULTIPLY, CONTRAST),
    "flowers102": (NOISE, MULTIPLY, CONTRAST, AFFINE_SYMMETRIC),
    "10kcats": (MULTIPLY, CONTRAST, AFFINE_SYMMETRIC),
    "lsun_churches": (NOISE, MULTIPLY, CONTRAST, AFFINE_CONSTANT),
}
NOISE_SCALE = 0.035 * 2.0  # 0.035 * 255 on 0..255 pixels
CONTRAST_CENTRE = 128.0 / 127.5 - 1.0
PARAMS = 7  # uniforms per op: gate, order key, then up to 5 of the op's own


def affine_inverse(params, size, translate):
    """The 8 projective-transform numbers (output pixel -> input pixel) of scale (sx, sy), rotation and translation
    (fractions of the size) about the image centre; params: uniforms [4] in [0, 1) -> sx, sy, angle, (tx, ty)."""
    sx = 0.9 + 0.2 * params[0]
    sy = 0.9 + 0.2 * params[1]
    degrees = 1.0 if translate else 15.0
    angle = (2.0 * params[2] - 1.0) * degrees * math.pi / 180.0
    if translate:
        tx = (2.0 * params[3] - 1.0) * 0.1 * size
        ty = (2.0 * params[4] - 1.0) * 0.1 * size
    else:
        tx = ty = tf.constant(0.0)
    c = (size - 1) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # forward: p_out = C + T + R S (p_in - C); inverse: p_in = C + S^-1 R^-1 (p_out - C - T)
    a0, a1 = cos / sx, sin / sx
    b0, b1 = -sin / sy, cos / sy
    ox, oy = -c - tx, -c - ty
    return tf.stack([a0, a1, a0 * ox + a1 * oy + c, b0, b1, b0 * ox + b1 * oy + c, 0.0, 0.0])


def apply_affine(image, transform, constant):
    """image [H,W,C] through an 8-number inverse transform; fill: black (constant) or symmetric reflection."""
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        fill_value=-1.0, interpolation="BILINEAR", fill_mode="CONSTANT" if constant else "REFLECT")
    return out[0]


def apply_op(op, image, params, seed):
    """One op on one image [H,W,C] in [-1,1], with its uniforms `params` [PARAMS - 2]; clipped to [-1, 1]."""
    if op == NOISE:
        sigma = NOISE_SCALE * params[0]
        noise = tf.random.stateless_normal(tf.concat([tf.shape(image)[:2], [1]], 0), seed)
        image = image + sigma * noise  # per_channel=False: one value per pixel for all channels
    elif op == MULTIPLY:
        image = (image + 1.0) * (0.9 + 0.2 * params[0]) - 1.0
    elif op == CONTRAST:
        image = (0.9 + 0.2 * params[0]) * (image - CONTRAST_CENTRE) + CONTRAST_CENTRE
    else:
        constant = op == AFFINE_CONSTANT
        size = tf.cast(tf.shape(image)[0], tf.float32)
        image = apply_affine(image, affine_inverse(params, size, translate=constant), constant)
    return tf.clip_by_value(image, -1.0, 1.0)


def augment_image(image, seed, ops, p=0.5):
    """The preset's Sequential on one image: each op with probability p, in a random order drawn per image."""
    if not ops:
        return image
    u = tf.random.stateless_uniform([len(ops), PARAMS], seed)
    order = tf.argsort(u[:, 1])
    for position in range(len(ops)):
        k = order[position]

        def branch(j):
            def run():
                applied = apply_op(ops[j], image, u[j, 2:], seed + tf.constant([j + 1, 0], seed.dtype))
                return tf.where(u[j, 0] < p, applied, image)
            return run

        image = tf.switch_case(k, [branch(j) for j in range(len(ops))])
    return image


def make_augment(name, p=0.5):
    """The pipeline's augment function (images [B,H,W,C], keys int64 [B]) -> images for preset `name`, or None
    (`none`: the mirror flip alone)."""
    ops = PRESETS[name]
    if not ops:
        return None

    def augment(images, keys):
        seeds = tf.stack([keys, tf.zeros_like(keys)], axis=1)
        return tf.map_fn(lambda args: augment_image(args[0], args[1], ops, p), (images, seeds),
                         fn_output_signature=tf.TensorSpec(images.shape[1:], images.dtype))

    return augment
