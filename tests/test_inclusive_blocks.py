"""Inclusive GAN building blocks against brute-force NumPy and literal transcriptions of the original code."""

import os

import fixtures
import numpy as np
import pytest
import tensorflow as tf

from inclusive import knn, latents, minority, projection, schedule
from stylegan2.dataset import ImageDataset
from stylegan2.dataset_tool.cli import run as dataset_tool
from stylegan2.errors import UserError


def brute_force(queries, candidates):
    """float64 squared distances [Q, N] and a stable (distance, index) order per query."""
    q = queries.astype(np.float64)
    c = candidates.astype(np.float64)
    d2 = ((q[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    return d2, np.argsort(d2, axis=1, kind="stable")


def chunks(array, sizes):
    start = 0
    for size in sizes:
        yield array[start:start + size]
        start += size
    assert start == len(array)


def ig_exclusive(nn_indices, nn_dists):
    """IG:training/training_loop.py L382-396, verbatim apart from names."""
    nearest_indices_list, nearest_dists_list = [], []
    for i in range(nn_indices.shape[0]):
        added = False
        for j in range(nn_indices.shape[1]):
            if nn_indices[i, j] not in nearest_indices_list:
                nearest_indices_list.append(nn_indices[i, j])
                nearest_dists_list.append(nn_dists[i, j])
                added = True
                break
        if not added:
            nearest_indices_list.append(nn_indices[i, 0])
            nearest_dists_list.append(nn_dists[i, 0])
    return np.array(nearest_indices_list), np.array(nearest_dists_list)


@pytest.fixture(scope="module")
def data():
    rnd = np.random.RandomState(0)
    candidates = rnd.uniform(-1, 1, size=(1000, 48)).astype(np.float32)
    queries = rnd.uniform(-1, 1, size=(150, 48)).astype(np.float32)
    return queries, candidates


SIZES = [97, 256, 0, 300, 1, 346]


@pytest.mark.parametrize("query_block", [4096, 37])
def test_1nn_matches_brute_force(data, query_block):
    queries, candidates = data
    d2, order = brute_force(queries, candidates)
    idx, dist = knn.nearest_neighbors(queries, chunks(candidates, SIZES), query_block=query_block)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == dist.shape == (150,)
    np.testing.assert_array_equal(idx, order[:, 0])
    np.testing.assert_allclose(dist, np.sqrt(d2[np.arange(150), order[:, 0]]), rtol=1e-5, atol=1e-4)


def test_knn_lists_match_brute_force_and_accept_a_callable(data):
    queries, candidates = data
    d2, order = brute_force(queries, candidates)
    idx, dist = knn.nearest_neighbors(queries, lambda: chunks(candidates, SIZES), k=7, query_block=64)
    assert idx.shape == dist.shape == (150, 7)
    np.testing.assert_array_equal(idx, order[:, :7])
    np.testing.assert_allclose(dist, np.sqrt(np.take_along_axis(d2, order[:, :7], 1)), rtol=1e-5, atol=1e-4)
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_ties_go_to_the_lower_index_and_images_are_flattened():
    rnd = np.random.RandomState(1)
    candidates = rnd.uniform(-1, 1, size=(40, 2, 2, 3)).astype(np.float32)
    candidates[33] = candidates[5]
    candidates[6] = candidates[5]
    queries = candidates[[5, 20]] + 0.001
    idx, _ = knn.nearest_neighbors(queries, chunks(candidates, [6, 10, 24]))
    np.testing.assert_array_equal(idx, [5, 20])
    idx, _ = knn.nearest_neighbors(queries, chunks(candidates, [40]), k=3)
    np.testing.assert_array_equal(idx[0], [5, 6, 33])


def test_exclusive_retrieval_is_igs_greedy_rule():
    rnd = np.random.RandomState(2)
    candidates = rnd.uniform(-1, 1, size=(300, 32)).astype(np.float32)
    # Many queries crowd around a few candidates, so neighbours collide and some queries exhaust their k.
    queries = candidates[rnd.randint(0, 12, size=200)] + rnd.normal(0, 0.05, size=(200, 32)).astype(np.float32)
    k = 5
    d2, order = brute_force(queries, candidates)
    ref_i, ref_d = ig_exclusive(order[:, :k], np.sqrt(np.take_along_axis(d2, order[:, :k], 1)))
    idx, dist = knn.retrieve(queries, chunks(candidates, [100, 100, 100]), exclusive_k=k)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-4)
    assert len(np.unique(idx)) < len(idx)  # the fallback to the 1st neighbour happened
    assert np.any(idx != order[:, 0])  # and so did the exclusion
    idx1, _ = knn.retrieve(queries, chunks(candidates, [300]))
    np.testing.assert_array_equal(idx1, order[:, 0])


def test_percentile_filter():
    dist = np.random.RandomState(3).gamma(2.0, size=101).astype(np.float32)
    keep, thres = knn.percentile_mask(dist, 100.0)
    assert keep.all() and thres == pytest.approx(dist.max())
    keep, thres = knn.percentile_mask(dist, 37.5)
    assert thres == np.percentile(dist.astype(np.float64), 37.5)
    np.testing.assert_array_equal(keep, dist <= thres)
    assert keep.sum() == 38
    with pytest.raises(UserError, match="--dist-thres-percentile 101"):
        knn.percentile_mask(dist, 101)


def test_projection_dim_rule():
    from sklearn.random_projection import johnson_lindenstrauss_min_dim
    assert projection.proj_dim_for(None, 300000, 49152) == 49152
    assert projection.proj_dim_for(0, 300000, 49152) == 10809  # CelebA-30k x 10
    assert projection.proj_dim_for(0, 2400000, 3072) == 12592  # Stacked MNIST 240k x 10
    assert projection.proj_dim_for(0, 12345, 3072) == johnson_lindenstrauss_min_dim(n_samples=12345, eps=0.1)
    assert projection.proj_dim_for(64, 300000, 3072) == 64
    with pytest.raises(UserError, match="--init-proj-dim -1"):
        projection.proj_dim_for(-1, 10, 10)


def test_projector_is_igs_gaussian_and_cached(tmp_path):
    p = projection.random_projector(48, 16, seed=7)
    expected = np.random.RandomState(7).normal(loc=0.0, scale=1.0 / float(16), size=(48, 16)).astype(np.float64)
    assert p.dtype == np.float64 and np.array_equal(p, expected)
    big = projection.random_projector(3072, 256, seed=0)
    assert abs(big.std() - 1 / 256) < 0.01 / 256 and abs(big.mean()) < 1e-4
    a = projection.load_or_create_projector(48, 16, seed=7, cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == ["random_projector_mat_48to16.npy"] and np.array_equal(a, p)
    b = projection.load_or_create_projector(48, 16, seed=99, cache_dir=str(tmp_path))  # reused, like IG
    assert np.array_equal(b, p)
    np.save(tmp_path / "random_projector_mat_48to8.npy", np.zeros((4, 4)))
    with pytest.raises(UserError, match="random_projector_mat_48to8.npy: holds"):
        projection.load_or_create_projector(48, 8, cache_dir=str(tmp_path))


def test_features_use_igs_nchw_order():
    images = np.random.RandomState(4).uniform(-1, 1, size=(5, 4, 4, 3)).astype(np.float32)
    p = projection.random_projector(48, 8, seed=1)
    flat_nchw = images.transpose(0, 3, 1, 2).reshape(5, -1)
    np.testing.assert_array_equal(projection.image_features(images).numpy(), flat_nchw)
    got = projection.image_features(images, tf.constant(p, tf.float64), dtype=tf.float64).numpy()
    np.testing.assert_allclose(got, flat_nchw.astype(np.float64) @ p, rtol=1e-12)


def test_staleness_schedule_defaults():
    assert schedule.rebuild_epochs(10, 100) == [0, 10, 20, 40, 80]
    assert schedule.rebuild_epochs(10, 321) == [0, 10, 20, 40, 80, 160, 320]
    assert schedule.rebuild_epochs(10, 100, start_epoch=30) == [30, 40, 60, 80]  # IG restarts S on resume


def test_staleness_schedule_step_by_step():
    data_size, mb = 120, 6  # IG asserts data_size % (2*mb) == 0
    sched = schedule.StalenessSchedule(data_size, init_staleness=10)
    rebuilt, cur_nimg = [], 0
    while cur_nimg < 200 * data_size:
        if sched.update(cur_nimg, 2 * mb):
            rebuilt.append(schedule.epoch_of(cur_nimg, data_size))
        cur_nimg += 2 * mb
    assert rebuilt == [0, 10, 20, 40, 80, 160] and sched.staleness == 320  # doubled after each rebuild but the first


def test_epoch_conversions():
    assert schedule.total_kimg(30000, 10000) == 300000
    assert schedule.total_kimg(1500, 3) == 4  # 4500 images // 1000
    assert schedule.nimg_of_epochs(10, 30000) == 300000 and schedule.kimg_of_epochs(10, 30000) == 300.0
    assert schedule.epoch_of(45000, 30000) == 1.5
    assert schedule.snapshot_ticks(30000) == (30, 150) and schedule.snapshot_ticks(600) == (1, 5)
    schedule.check_data_size(30000, 12, num_images=30000)
    with pytest.raises(UserError, match="--data-size 30000: the dataset has 29999"):
        schedule.check_data_size(30000, 12, num_images=29999)
    with pytest.raises(UserError, match="multiple of 2 x minibatch"):
        schedule.check_data_size(1000, 12)
    with pytest.raises(UserError, match="--init-staleness 0"):
        schedule.StalenessSchedule(100, 0)


def test_candidate_pool():
    pool = latents.candidate_pool(200, 10, seed=3)
    assert pool.shape == (2000, 512) and pool.dtype == np.float32
    assert np.array_equal(pool, latents.candidate_pool(200, 10, seed=3))
    assert not np.array_equal(pool, latents.candidate_pool(200, 10, seed=4))
    assert abs(pool.mean()) < 0.01 and abs(pool.std() - 1) < 0.01


def ig_slerp(a, b, t):
    """IG:training/misc.py L192-203 verbatim."""
    def normalize(v):
        return v / np.sqrt(np.sum(np.square(v), axis=-1, keepdims=True))
    a = normalize(a)
    b = normalize(b)
    d = np.sum(a * b, axis=-1, keepdims=True)
    p = t * np.arccos(d)
    c = normalize(b - d * a)
    d = a * np.cos(p) + c * np.sin(p)
    return normalize(d)


def angle(u, v):
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.arccos(np.clip((u * v).sum(-1), -1, 1))


def test_slerp_is_igs_and_unit_norm():
    rnd = np.random.RandomState(5)
    a = rnd.randn(64, 512).astype(np.float32) * 3
    b = rnd.randn(64, 512).astype(np.float32)
    t = rnd.uniform(size=(64, 1)).astype(np.float32)
    out = latents.slerp(a, b, t)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ig_slerp(a, b, t), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(angle(out, a), t[:, 0] * angle(a, b), atol=1e-4)
    np.testing.assert_allclose(latents.slerp(a, b, 0.0), a / np.linalg.norm(a, axis=-1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(latents.slerp(a, b, 1.0), b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(latents.slerp_tf(tf.constant(a), tf.constant(b), tf.constant(t)).numpy(),
                               ig_slerp(a, b, t), atol=1e-5)
    same = latents.slerp(a[:2], a[:2] * 2, 0.3)  # IG's formula gives NaN here (0/0)
    assert np.all(np.isfinite(same)) and np.allclose(same, a[:2] / np.linalg.norm(a[:2], axis=-1, keepdims=True))
    assert np.all(np.isfinite(latents.slerp_tf(tf.constant(a[:2]), tf.constant(a[:2]), 0.3).numpy()))


def test_perturb_rotates_toward_fresh_noise():
    z = latents.candidate_pool(8, 1, seed=0)
    out = latents.perturb(z, 0.05, np.random.RandomState(9))
    noise = np.random.RandomState(9).standard_normal(z.shape).astype(np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ig_slerp(z, noise, 0.05), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(angle(out, z), 0.05 * angle(z, noise), atol=1e-4)
    np.testing.assert_allclose(latents.perturb_tf(z, noise, 0.05).numpy(), out, atol=1e-5)


def test_interpolation_weights():
    t = np.array([0.0, 0.25, 1.0], np.float32)
    w2, w1 = latents.interpolation_weights(t)
    np.testing.assert_array_equal(w2 + w1, 1.0)
    np.testing.assert_array_equal(w1, t)
    d2, d1 = np.array([1.0, 2.0, 3.0], np.float32), np.array([5.0, 6.0, 7.0], np.float32)
    np.testing.assert_allclose(latents.interpolation_loss(d2, d1, t), (1 - t) * d2 + t * d1)  # 0.4 * 2.5 = 1
    np.testing.assert_allclose(latents.interpolation_loss(d2, d1, t, rec_weight=5.0), 2 * ((1 - t) * d2 + t * d1))
    l2, l1 = np.zeros((3, 4)), np.ones((3, 4))
    np.testing.assert_allclose(latents.interpolate_labels(l2, l1, t[:, None]), np.repeat(t[:, None], 4, 1))


@pytest.fixture(scope="module")
def celeba(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeba")
    img_dir = fixtures.make_celeba_dir(str(root / "celeba"), num=30)
    out = str(root / "celeba_30")
    dataset_tool(["create_celeba", out, img_dir])
    return ImageDataset(out)


def test_minority_mask_is_the_and_subset(celeba):
    images, labels, indices = next(celeba.iterate_numpy(batch_size=64))
    numbers = np.rint((images[:, 64, 64, 0] + 1) * 127.5).astype(int)  # the source image number (fixtures)
    assert sorted(numbers) == list(range(1, 31)) and np.array_equal(indices, np.arange(30))
    names = celeba.label_names
    for spec in ["Attractive,Bags_Under_Eyes", "Eyeglasses", "Eyeglasses,Bald,Young", "5_o_Clock_Shadow,Attractive"]:
        cols = [fixtures.CELEBA_ATTRS.index(s) for s in spec.split(",")]
        expected = np.array([all(fixtures.celeba_attrs(i)[c] == 1 for c in cols) for i in numbers])
        np.testing.assert_array_equal(minority.minority_mask(labels, names, spec), expected)
        np.testing.assert_array_equal(minority.minority_mask(celeba.labels, names, spec.split(",")), expected)
    assert sorted(numbers[minority.minority_mask(labels, names, "Attractive,Bags_Under_Eyes")]) == [6, 12, 18, 24, 30]
    assert not minority.minority_mask(labels, names, "5_o_Clock_Shadow,Attractive").any()  # odd AND even


def test_attr_interesting_errors():
    names = list(fixtures.CELEBA_ATTRS)
    assert minority.parse_attr_interesting("Narrow_Eyes, Heavy_Makeup", names) == [23, 18]
    with pytest.raises(UserError) as err:
        minority.parse_attr_interesting("Eyeglasses,Glasses", names)
    msg = str(err.value)
    assert "\n" not in msg and "unknown attribute(s) Glasses" in msg and "Wearing_Necktie, Young" in msg
    with pytest.raises(UserError, match="empty"):
        minority.parse_attr_interesting(" , ", names)
    with pytest.raises(UserError, match="has none"):
        minority.minority_mask(np.zeros((3, 0)), [], "Bald")
