"""What a snapshot records for generation (stylegan2.sampling) and carries beside its networks (ArrayStore extras)."""

import numpy as np
import pytest

from stylegan2.errors import UserError
from stylegan2.presets import build_networks
from stylegan2.sampling import Sampling
from stylegan2.training.snapshot import ArrayStore, load_snapshot, read_metadata, save_snapshot, clone_model


def test_recorded_class_distribution_is_drawn_per_seed():
    probs = [0.0, 0.7, 0.0, 0.3]
    sampling = Sampling(4, "empirical", probs)
    labels = sampling.labels_for_keys(None, range(2000))  # no --class: drawn from the recorded distribution
    classes = labels.argmax(1)
    assert set(classes) == {1, 3} and abs(np.mean(classes == 1) - 0.7) < 0.04
    np.testing.assert_array_equal(sampling.labels_for_keys("random", [5, 6]), labels[5:7])  # a seed's own class
    np.testing.assert_array_equal(sampling.labels_for_keys(2, [0, 1]), np.eye(4, dtype=np.float32)[[2, 2]])
    batch = Sampling(4, "empirical", probs).labels_batch(1000, np.random.RandomState(0))
    assert batch.shape == (1000, 4) and set(batch.argmax(1)) == {1, 3}


def test_nvidia_conditional_networks_still_require_a_class():
    sampling = Sampling(3)  # no record: dataset label rows, NVIDIA's
    assert sampling.kind == "dataset" and not sampling.random_by_default
    with pytest.raises(UserError, match="pass --class=0..2 or --class=random"):
        sampling.labels_for_keys(None, [0])
    with pytest.raises(UserError, match="--class 3: out of range"):
        sampling.labels_for_keys(3, [0])
    assert Sampling(0).labels_for_keys(None, [0, 1]) is None
    with pytest.raises(UserError, match="unconditional"):
        Sampling(0).labels_for_keys(1, [0])
    uniform = Sampling(3, "uniform").labels_batch(3000, np.random.RandomState(1))
    assert abs(uniform.mean(0) - 1 / 3).max() < 0.03


@pytest.mark.parametrize("labels, probs", [("mystery", None), ("empirical", [1.0, 2.0]), ("empirical", [-1, 1, 1])])
def test_bad_sampling_records_are_refused(labels, probs):
    with pytest.raises(UserError, match="snapshot metadata"):
        Sampling(3, labels, probs)


def test_snapshot_extras_and_metadata_round_trip(tmp_path):
    G, D = build_networks("tiny", 8, 3, c_dim=4)
    centroids = np.random.RandomState(0).randn(4, 16).astype(np.float32)
    mapping = np.array([2, 0, 1, 3], np.int64)
    path = str(tmp_path / "network-snapshot-000001.keras")
    meta = {"kimg": 1.0, "method": "stylegan2", "sampling": {"labels": "empirical", "probs": [0.1, 0.2, 0.3, 0.4]}}
    save_snapshot(path, G, D, clone_model(G), meta,
                  extras={"clusters": ArrayStore({"centroids": centroids, "mapping": mapping}, name="clusters")})
    assert read_metadata(path) == meta  # read without building any network
    snap = load_snapshot(path)
    arrays = snap.extras["clusters"].arrays()
    np.testing.assert_array_equal(arrays["centroids"], centroids)
    np.testing.assert_array_equal(arrays["mapping"], mapping)
    assert arrays["mapping"].dtype == np.int64
    sampling = Sampling.from_metadata(snap.metadata, snap.G_ema)
    np.testing.assert_allclose(sampling.probs, [0.1, 0.2, 0.3, 0.4])
