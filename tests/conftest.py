import os

from stylegan2 import environment  # noqa: E402  (the entry points' TensorFlow settings, before its import)

environment.configure(log_level="2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices for the whole session, so tf.distribute tests (MirroredStrategy over 2 replicas) run
# in-process. This must happen before the first TensorFlow op; single-device code simply uses CPU:0.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
