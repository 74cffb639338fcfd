"""Mixed precision: float32 weights, bfloat16 or float16 activations in the highest resolutions (`--precision`).

NVIDIA's StyleGAN2-ADA scheme (ADA training/networks.py): the blocks of the `num_fp16_res` highest resolutions
(`--fp16-res`, never the 4x4 block) compute in reduced precision, the rest in float32; ADA's train.py pairs this
with `conv_clamp=256` on every conv layer, "to avoid float16 overflow". In Keras 3 terms each conv layer of a
reduced block gets the dtype policy `mixed_bfloat16` or `mixed_float16` (variables float32, compute dtype reduced),
and casts explicitly where ADA calls `.to(dtype)`: its input, its weight and bias, the styles and demodulation
coefficients (computed in float32 from the float32 affine layer, as ADA computes them), its noise. What stays
float32: every weight, the optimizer state, G_ema, w_avg, the mapping network, the style affines, the
demodulation sums, the image skips of the generator (each ToRGB's output is cast to float32 before it is added),
the discriminator's 4x4 epilogue (minibatch std, Dense layers, scores), every loss and penalty, the gradients the
optimizer sees and their accumulation and all-reduce, and the R1 and path-length gradients (taken with respect to
float32 images and latents).

float16 (not bfloat16, which has float32's range) also pre-normalizes the weights and styles of demodulated convs
(ADA `modulated_conv2d`, "to avoid FP16 overflow") and trains with dynamic loss scaling (`DynamicLossScale`).

Networks never record a precision: snapshots hold float32 networks (with their conv_clamp), and any precision is
applied to a loaded network with `apply_precision`.
"""

import math

import keras

PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # flag value -> compute dtype
CHOICES = (*PRECISIONS, "auto")
DEFAULT_FP16_RES = 4  # ADA train.py: num_fp16_res = 4
DEFAULT_CONV_CLAMP = 256  # ADA train.py: conv_clamp = 256, set together with num_fp16_res


def compute_dtype(precision):
    """'fp32' | 'bf16' | 'fp16' -> 'float32' | 'bfloat16' | 'float16'."""
    return PRECISIONS[precision]


def cast_to(x, dtype):
    """x as `dtype`; x itself when it already is (so the float32 path has no extra ops)."""
    if x is None or keras.backend.standardize_dtype(x.dtype) == dtype:
        return x
    return keras.ops.cast(x, dtype)


def fp16_resolution(img_resolution, num_fp16_res):
    """The lowest resolution computed in reduced precision (ADA: max(2 ** (log2(res) + 1 - num_fp16_res), 8))."""
    if num_fp16_res <= 0:
        return 2 * img_resolution
    return max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)


def set_layer_dtype(layer, dtype):
    """Makes `layer` compute in `dtype` with float32 variables: Keras' `mixed_<dtype>` policy (or `float32`).

    Reduced-precision layers cast explicitly (their weights are created with autocast=False): the input casting of
    Keras' `Layer.__call__` is turned off for them, since their style input must reach the float32 affine unrounded.
    """
    if dtype == "float32":
        layer.dtype_policy = keras.DTypePolicy("float32")
        layer.autocast = True
    else:
        layer.dtype_policy = keras.DTypePolicy(f"mixed_{dtype}")
        layer.autocast = False


def apply_precision(model, precision, fp16_res=DEFAULT_FP16_RES):
    """Sets the precision of every synthesis network and discriminator inside `model` (a Generator, Discriminator,
    NetworkSnapshot, ...): `precision` 'fp32', 'bf16' or 'fp16' for the `fp16_res` highest resolutions; with a reduced
    precision, conv_clamp 256 on networks that have none (ADA's configs; its legacy.py `force_fp16` does the same to
    float32 networks). Weights are untouched. Returns `model`."""
    dtype = compute_dtype(precision)
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if hasattr(layer, "set_precision"):
            layer.set_precision(dtype, fp16_res)
            if dtype != "float32" and layer.conv_clamp is None:
                layer.set_conv_clamp(DEFAULT_CONV_CLAMP)
    return model


# === Dynamic loss scaling (float16 training) ===


class DynamicLossScale:
    """NVIDIA's dynamic loss scaling (TF1 dnnlib/tflib/optimizer.py): a phase's loss is multiplied by 2^s before
    differentiation and its gradients divided by 2^s again; a step whose gradients, summed over every replica, are
    not all finite is skipped (weights and optimizer state untouched) and s drops by 1; a finite step raises s by
    1/2000 (NVIDIA's loss_scaling_dec 1, loss_scaling_inc 0.0005: the scale doubles after 2,000 clean steps).

    s starts at 15 (Keras' LossScaleOptimizer default 2^15: a unit gradient then just fits float16's range, 65504);
    NVIDIA's optimizer default, 64, would skip the first ~49 steps of each phase, i.e. ~780 iterations before R1's
    first step. A scale below 2^MIN_LOG2 means the gradients are not finite at any scale: the run has diverged.
    """

    INIT_LOG2 = 15.0
    INC = 0.0005
    DEC = 1.0
    MIN_LOG2 = -10.0

    def __init__(self, name):
        import tensorflow as tf

        self.name = name
        self.log2 = tf.Variable(self.INIT_LOG2, trainable=False, name=f"loss_scale_log2_{name}")

    def scale(self):
        """2^s as a float32 tensor (read in a replica context: this replica's copy)."""
        import tensorflow as tf

        return tf.pow(2.0, tf.convert_to_tensor(self.log2))

    def update(self, finite):
        """s += INC if `finite` else s -= DEC (cross-replica context); returns the new s."""
        import tensorflow as tf

        return self.log2.assign_add(tf.where(finite, self.INC, -self.DEC))


# === --precision auto ===

AUTO_MIN_SPEEDUP = 1.25  # bf16 is chosen when a conv step runs at least this much faster than in float32
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags():
    """The CPU's feature flags (Linux /proc/cpuinfo; an empty set elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def measure_bf16_speedup(reps=5):
    """(bf16 / fp32 speed ratio, detail) of one 3x3 conv layer's forward and backward pass (stylegan2.ops, the
    training path: batch 16, 16x16, 128 channels), timed in turn, median of `reps`."""
    import time

    import numpy as np
    import tensorflow as tf

    from stylegan2.ops.conv2d_resample import conv2d_resample

    x32 = tf.random.stateless_normal([16, 16, 16, 128], seed=[1, 2])
    w32 = tf.random.stateless_normal([3, 3, 128, 128], seed=[3, 4]) * 0.03
    steps = {}
    for dtype in ("float32", "bfloat16"):
        x, w = tf.cast(x32, dtype), tf.cast(w32, dtype)

        @tf.function(autograph=False)
        def step(x=x, w=w):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = conv2d_resample(x, w)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
            return tape.gradient(loss, [x, w])

        step()  # trace
        steps[dtype] = step
    times = {dtype: [] for dtype in steps}
    for _ in range(reps):
        for dtype, step in steps.items():
            start = time.perf_counter()
            for g in step():
                g.numpy()
            times[dtype].append(time.perf_counter() - start)
    fp32, bf16 = (float(np.median(times[d])) for d in ("float32", "bfloat16"))
    ratio = fp32 / bf16
    return ratio, f"a 3x3 conv step takes {1000 * fp32:.1f} ms in float32, {1000 * bf16:.1f} ms in bfloat16 ({ratio:.2f}x)"


def resolve(precision, measure=True):
    """(precision, reason): 'fp32', 'bf16' or 'fp16' as given (reason None), or what 'auto' picks on this machine:
    bf16 on GPUs of compute capability >= 8.0 (bfloat16 tensor cores), on CPUs with bfloat16 instructions when a conv
    step measures at least AUTO_MIN_SPEEDUP faster (`measure=False`: when the instructions exist), else fp32. 'auto'
    never picks fp16, which needs loss scaling and clamping to stay finite: ask for it explicitly."""
    if precision != "auto":
        return precision, None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return "bf16", f"GPU compute capability {capability[0]}.{capability[1]} has bfloat16 tensor cores"
        return "fp32", f"GPU compute capability {capability} has no bfloat16 units (--precision fp16 is available)"
    flags = cpu_flags() & set(BF16_CPU_FLAGS)
    if not flags:
        return "fp32", f"the CPU has no bfloat16 instructions ({', '.join(BF16_CPU_FLAGS)})"
    if not measure:
        return "bf16", f"the CPU has {', '.join(sorted(flags))}"
    ratio, detail = measure_bf16_speedup()
    choice = "bf16" if ratio >= AUTO_MIN_SPEEDUP else "fp32"
    return choice, f"the CPU has {', '.join(sorted(flags))}; {detail}, {'>=' if choice == 'bf16' else '<'} " \
                   f"{AUTO_MIN_SPEEDUP}x"


def add_precision_flags(parser):
    """--precision and --fp16-res (run_training.py, run_generator.py, run_metrics.py)."""
    parser.add_argument("--precision", choices=CHOICES, default=None,
                        help="Arithmetic of the --fp16-res highest resolutions: fp32, bf16 (bfloat16), fp16 (float16 "
                             "with loss scaling in training) or auto (bf16 where this machine runs it faster, else "
                             "fp32); weights, optimizer state and losses stay float32 (default: fp32)")
    parser.add_argument("--fp16-res", type=int, default=None, metavar="N",
                        help=f"With --precision bf16/fp16/auto: how many of the highest resolutions compute in "
                             f"reduced precision, NVIDIA's num_fp16_res (default: {DEFAULT_FP16_RES})")


def check_precision_flags(precision, fp16_res):
    """The validated (precision, fp16_res) of the flags (None = not given); one-line UserErrors."""
    from stylegan2.errors import UserError

    precision = precision or "fp32"
    if fp16_res is not None and precision == "fp32":
        raise UserError(f"--fp16-res {fp16_res}: applies only with --precision bf16, fp16 or auto")
    fp16_res = DEFAULT_FP16_RES if fp16_res is None else fp16_res
    if fp16_res < 1:
        raise UserError(f"--fp16-res {fp16_res}: must be at least 1 (--precision fp32 computes everything in float32)")
    return precision, fp16_res
