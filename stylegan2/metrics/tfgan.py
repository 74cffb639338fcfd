"""The one place that imports tensorflow-gan (TF-GAN 2.1.0), for its metric arithmetic (`tfgan.eval`).

TF-GAN 2.1.0 subclasses `tf.estimator.SessionRunHook` at import time, and `tf.estimator` was removed in TF 2.16.
`tfgan()` installs a stand-in `tf.estimator` (classes that are never instantiated here), then imports the package.
`tensorflow_probability` must be imported first: its import replaces the `tf.compat.v1` wrapper and would drop the
stand-in (see reference/environment.md §2). Import this module only where metrics are computed: the first call
costs 1-2 s. Its Inception helpers (`run_inception`, `frechet_inception_distance`, ...) need TF-Hub and Keras 2 and
do not work here; only the `*_from_activations` / `*_from_logits` arithmetic is used.
"""

import types

_TFGAN = None
_ESTIMATOR_NAMES = ("SessionRunHook", "Estimator", "RunConfig", "EstimatorSpec")


def _stand_in_estimator():
    est = types.ModuleType("tensorflow.estimator")
    for name in _ESTIMATOR_NAMES:
        setattr(est, name, type(name, (object,), {}))
    est.ModeKeys = types.SimpleNamespace(TRAIN="train", EVAL="eval", PREDICT="infer")
    est.tpu = types.SimpleNamespace(TPUEstimator=type("TPUEstimator", (object,), {}),
                                    TPUEstimatorSpec=type("TPUEstimatorSpec", (object,), {}),
                                    RunConfig=type("RunConfig", (object,), {}))
    return est


def install_estimator_shim():
    """Gives `tf.estimator` and `tf.compat.v1.estimator` a stand-in when TensorFlow lacks them; idempotent."""
    import tensorflow as tf
    import tensorflow_probability  # noqa: F401  (must precede the shim, see the module docstring)

    est = getattr(tf, "estimator", None)
    if est is None:
        est = _stand_in_estimator()
        tf.estimator = est
    if getattr(tf.compat.v1, "estimator", None) is None:
        tf.compat.v1.estimator = est


def tfgan():
    """The `tensorflow_gan` module, imported once behind the `tf.estimator` stand-in."""
    global _TFGAN
    if _TFGAN is None:
        install_estimator_shim()
        import tensorflow_gan

        _TFGAN = tensorflow_gan
    return _TFGAN
