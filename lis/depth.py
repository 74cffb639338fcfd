"""Random depths during training: G-LIS's stochastic depth and R-iterative's train gate (aleju/gan-error-avoidance).

Stochastic depth (common/model.py `GeneratorLearnedInputSpace.forward`): before module i (0-based) of N, one
`random.random() < p_i` with p_i = (1/2)^(N - i) stops the chain, so this module and all later ones are skipped.
One draw per module per G call: the whole minibatch shares the depth. N = 3 gives P(depth 0, 1, 2, 3) =
1/8, 7/32, 21/64, 21/64. At evaluation every module runs (p = 0) unless a depth is forced.

R-iterative's gate (r_iterative/main.py): step k = 0..N of the G -> R -> G chain is trained when the previous step
was, or it is the last step, or `random.random() <= (k + 1) / (N + 1)`; so the trained steps are k0..N for a random
first step k0.

The NumPy functions give the probabilities; the TensorFlow ones turn uniforms (from `ctx.draws.scalar()`, one per
module or step, shared by every replica) into a depth or a first trained step.
"""

import numpy as np
import tensorflow as tf


def break_probabilities(num_modules):
    """p_i = (1/2)^(N - i), i = 0..N-1: the probability that the chain stops before module i."""
    return np.array([0.5 ** (num_modules - i) for i in range(num_modules)], np.float64)


def depth_distribution(num_modules):
    """P(depth = k), k = 0..N: p_k prod_{j<k} (1 - p_j) for k < N, prod_j (1 - p_j) for k = N."""
    p = break_probabilities(num_modules)
    survive = np.concatenate([[1.0], np.cumprod(1.0 - p)])  # P(the first k modules all run)
    return survive * np.concatenate([p, [1.0]])


def depth_from_uniforms(uniforms, num_modules):
    """The depth (int32 scalar) given one U[0,1) draw per module: the number of modules before the first i with
    u_i < p_i (N when there is none)."""
    if num_modules == 0:
        return tf.constant(0, tf.int32)
    p = tf.constant(break_probabilities(num_modules), tf.float32)
    runs = tf.cast(tf.stack(uniforms) >= p, tf.int32)  # module i runs unless the chain stopped at or before it
    return tf.reduce_sum(tf.math.cumprod(runs))


def gate_probabilities(num_iterations):
    """(k + 1) / (N + 1), k = 0..N: R-iterative's chance to start training at step k (given it has not started)."""
    return np.arange(1, num_iterations + 2, dtype=np.float64) / (num_iterations + 1)


def first_trained_distribution(num_iterations):
    """P(first trained step = k), k = 0..N (step N is always trained: its probability is 1)."""
    p = gate_probabilities(num_iterations)
    before = np.concatenate([[1.0], np.cumprod(1.0 - p)[:-1]])
    return before * p


def trained_steps_from_uniforms(uniforms):
    """float32 [N + 1] of 1 (trained) / 0 given one U[0,1) draw per step: trained from the first k with
    u_k <= (k + 1) / (N + 1) on."""
    p = tf.constant(gate_probabilities(len(uniforms) - 1), tf.float32)
    hit = tf.cast(tf.stack(uniforms) <= p, tf.float32)
    return tf.minimum(tf.cumsum(hit), 1.0)
