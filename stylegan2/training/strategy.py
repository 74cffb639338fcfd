"""Choosing the tf.distribute strategy: one device, N GPUs, N logical CPUs, or several workers (TF_CONFIG)."""

import json
import os

import tensorflow as tf

from stylegan2.errors import UserError


def make_strategy(num_gpus=1):
    """The strategy for `--num-gpus N`, created before any other TensorFlow op runs.

    - `TF_CONFIG` set: MultiWorkerMirroredStrategy over all workers (each with its local GPUs, or its CPU).
    - N == 1: the default strategy (one device; same code path as the others).
    - N > 1 with >= N GPUs: MirroredStrategy over the first N GPUs.
    - N > 1 with no GPU: MirroredStrategy over N logical CPU devices (how multi-replica runs are tested on CPU).
    """
    if num_gpus < 1:
        raise UserError(f"--num-gpus {num_gpus}: must be at least 1")
    if os.environ.get("TF_CONFIG"):
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])
        except ValueError as err:
            raise UserError(f"TF_CONFIG: not valid JSON ({err})") from None
        if "cluster" not in cluster or "task" not in cluster:
            raise UserError("TF_CONFIG: needs 'cluster' and 'task' (see the tf.distribute multi-worker guide)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if num_gpus == 1:
        return tf.distribute.get_strategy()
    if gpus:
        if len(gpus) < num_gpus:
            raise UserError(f"--num-gpus {num_gpus}: only {len(gpus)} GPU(s) visible")
        return mirrored_strategy([f"/gpu:{i}" for i in range(num_gpus)])
    split_cpu(num_gpus)
    return mirrored_strategy([f"/cpu:{i}" for i in range(num_gpus)])


_MIRRORED = {}


def mirrored_strategy(devices):
    """One MirroredStrategy per device list and process. Two strategies over the same devices number their
    collective ops alike, and TensorFlow's process-wide collective executor then mixes them up ("Shape mismatch in
    the collective instance"), e.g. when one process trains twice."""
    devices = tuple(devices)
    if devices not in _MIRRORED:
        _MIRRORED[devices] = tf.distribute.MirroredStrategy(list(devices))
    return _MIRRORED[devices]


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices (idempotent when already split that way)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing and len(existing) >= num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError:
        raise UserError(f"--num-gpus {num_devices}: TensorFlow was initialised before the CPU could be split into "
                        f"{num_devices} devices; create the strategy before anything else runs") from None


def replica_info():
    """(replica id, number of replicas) of the current replica context, over all workers."""
    ctx = tf.distribute.get_replica_context()
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def is_chief(strategy):
    """Whether this process writes the run's outputs: always, except on non-chief workers of a multi-worker run
    (the chief is task 'chief', or worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)  # MultiWorkerMirroredStrategy only
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
