"""A float32 operand broadcast into reduced-precision activations (biases, styles, demodulation coefficients).

In a bfloat16 or float16 layer (stylegan2.precision) the bias [C] and the per-sample channel scales [N,1,1,C] are
float32 and are cast into the activations' dtype. Their gradients are sums over the broadcast axes. TensorFlow's
CPU reductions of bfloat16 accumulate in float32 (one rounding of the result), but those of float16 accumulate in
float16: a sum of 30,690 values in [0.5, 1.5] came out 47% low. So for float16 the cast's gradient is summed in
float32 here, by a custom gradient (differentiable again, for R1 and path length). float32 and bfloat16 take the
plain ops.
"""

import keras
import tensorflow as tf
from keras import ops

from stylegan2.ops.upfirdn2d import tensorflow_path


def _float32_sum_needed(x, v):
    return keras.backend.standardize_dtype(x.dtype) == "float16" and tensorflow_path(x)


def _broadcast_axes(x, v):
    """Axes of x over which v (rank <= rank(x), aligned to the right) is broadcast."""
    offset = len(x.shape) - len(v.shape)
    return [axis for axis in range(len(x.shape)) if axis < offset or (v.shape[axis - offset] == 1 and x.shape[axis] != 1)]


def _in_dtype_of(v, x):
    """v cast to x's dtype (v itself when it has it already)."""
    same = keras.backend.standardize_dtype(v.dtype) == keras.backend.standardize_dtype(x.dtype)
    return v if same else ops.cast(v, x.dtype)


def add_float32(x, v):
    """x + v in x's dtype, v float32 (e.g. a bias [C] into [N,H,W,C])."""
    if not _float32_sum_needed(x, v):
        return x + _in_dtype_of(v, x)
    x, v = tf.convert_to_tensor(x), tf.convert_to_tensor(v)
    axes = _broadcast_axes(x, v)

    @tf.custom_gradient
    def op(x, v):
        def grad(dy):
            return dy, tf.reshape(tf.reduce_sum(tf.cast(dy, tf.float32), axis=axes), v.shape)

        return x + tf.cast(v, x.dtype), grad

    return op(x, v)


def multiply_float32(x, v):
    """x * v in x's dtype, v float32 (e.g. styles [N,1,1,C] into [N,H,W,C])."""
    if not _float32_sum_needed(x, v):
        return x * _in_dtype_of(v, x)
    x, v = tf.convert_to_tensor(x), tf.convert_to_tensor(v)
    axes = _broadcast_axes(x, v)

    @tf.custom_gradient
    def op(x, v):
        def grad(dy):
            dv = tf.reduce_sum(tf.cast(dy, tf.float32) * tf.cast(x, tf.float32), axis=axes)
            return dy * tf.cast(v, dy.dtype), tf.reshape(dv, v.shape)

        return x * tf.cast(v, x.dtype), grad

    return op(x, v)
