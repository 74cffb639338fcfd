"""dataset_tool commands on tiny fixtures in the real on-disk formats; NVIDIA-compatible output."""

import json
import os
import pickle

import fixtures
import h5py
import numpy as np
import PIL.Image
import pytest
import scipy.io

from stylegan2.dataset import ImageDataset
from stylegan2.dataset_tool.cli import run
from stylegan2.dataset_tool.common import shuffled_order, stack_digits
from stylegan2.errors import UserError


def nv_order(n):
    order = np.arange(n)
    np.random.RandomState(123).shuffle(order)
    return order


def test_shuffled_order_is_nvidias():
    assert np.array_equal(shuffled_order(50), np.random.RandomState(123).permutation(50))


def test_create_mnist(tmp_path):
    images, labels = fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=40)
    out = str(tmp_path / "datasets" / "mnist")
    run(["create_mnist", out, str(tmp_path / "mnist")])
    per_res, nv_labels = fixtures.read_like_nvidia(out)
    assert sorted(per_res) == [4, 8, 16, 32]
    full = per_res[32]
    assert full.shape == (40, 1, 32, 32)
    order = nv_order(40)
    expected = np.pad(images, [(0, 0), (2, 2), (2, 2)])[order]
    assert np.array_equal(full[:, 0], expected)  # 28 -> 32 zero padding, NV's shuffled order
    assert np.array_equal(nv_labels, np.eye(10, dtype=np.float32)[labels[order]])
    assert sorted(os.listdir(out)) == ["dataset.json", "dataset_info.json", "features.json", "mnist-r02.tfrecords",
                                       "mnist-r03.tfrecords", "mnist-r04.tfrecords", "mnist-r05.tfrecords",
                                       "mnist-rxx.labels"]
    meta = json.load(open(os.path.join(out, "dataset.json")))
    assert meta["count"] == 40 and meta["resolution"] == 32 and meta["channels"] == 1 and meta["label_dim"] == 10
    assert meta["command"].startswith("python dataset_tool.py create_mnist")


def test_lods_are_box_filtered_like_nvidia(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, size=(5, 3, 16, 16)).astype(np.uint8)
    fixtures.write_like_nvidia(str(tmp_path / "nv"), images)
    from stylegan2.tfrecords import TFRecordExporter

    with TFRecordExporter(str(tmp_path / "ours"), 5, progress=False) as tfr:
        tfr.add_images(images)
    nv, _ = fixtures.read_like_nvidia(str(tmp_path / "nv"))
    ours, _ = fixtures.read_like_nvidia(str(tmp_path / "ours"))
    for res in (4, 8, 16):
        assert np.array_equal(nv[res], ours[res])


def test_create_mnist_without_lods(tmp_path):
    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=10)
    out = str(tmp_path / "m")
    run(["create_mnist", out, str(tmp_path / "mnist"), "--lods=false"])
    assert [f for f in os.listdir(out) if f.endswith(".tfrecords")] == ["m-r05.tfrecords"]


def test_create_mnistrgb_stacks_three_digits(tmp_path):
    images, labels = fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=30, split_prefix="t10k")
    out = str(tmp_path / "stacked")
    run(["create_mnistrgb", out, str(tmp_path / "mnist"), "--num_images", "50", "--split", "test"])
    per_res, nv_labels = fixtures.read_like_nvidia(out)
    stacked = per_res[32]
    assert stacked.shape == (50, 3, 32, 32)
    # IG: per image, RandomState(123).randint(N, size=3) picks the R, G, B digits; class = d0 + 10 d1 + 100 d2.
    rnd = np.random.RandomState(123)
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2)])
    for k in range(50):
        idx = rnd.randint(30, size=3)
        assert np.array_equal(stacked[k], padded[idx])
        cls = int(labels[idx[0]]) + 10 * int(labels[idx[1]]) + 100 * int(labels[idx[2]])
        assert nv_labels[k].shape == (1000,) and nv_labels[k][cls] == 1 and nv_labels[k].sum() == 1


def test_stack_digits_matches_per_image_draws():
    digits = np.arange(7)[:, None, None] * np.ones((7, 32, 32), np.uint8)
    images, classes = stack_digits(digits, np.arange(7), 20, seed=5)
    rnd = np.random.RandomState(5)
    for k in range(20):
        idx = rnd.randint(7, size=3)
        assert list(images[k, :, 0, 0]) == list(idx)
        assert classes[k] == idx[0] + 10 * idx[1] + 100 * idx[2]


def test_create_digits_embedded_default(tmp_path):
    out = str(tmp_path / "digits")
    run(["create_digits", out, "--num_images", "300"])
    ds = ImageDataset(out)
    assert ds.num_images == 300 and ds.shape == [32, 32, 3] and ds.label_dim == 1000 and ds.is_onehot
    images, labels, _ = next(ds.iterate_numpy(batch_size=300))
    assert images.min() == -1.0 and images.max() > 0.9  # dark background, bright strokes
    assert len(np.unique(labels.argmax(1))) > 200


def test_create_digits_single_channel_train_and_test_are_disjoint(tmp_path):
    from sklearn.datasets import load_digits

    from stylegan2.dataset_tool.mnist import load_sklearn_digits

    parts = {}
    for split, count in (("train", 1497), ("test", 300)):
        out = str(tmp_path / split)
        run(["create_digits", out, "--channels", "1", "--split", split, "--lods", "false"])
        ds = ImageDataset(out)
        assert ds.num_images == count and ds.shape == [32, 32, 1] and ds.label_dim == 10 and ds.is_onehot
        images, labels, _ = next(ds.iterate_numpy(batch_size=count))
        parts[split] = (np.rint((images[:, 2:-2, 2:-2, 0] + 1) * 127.5).astype(np.uint8), labels.argmax(1))
    digits, classes = load_sklearn_digits()
    assert len(digits) == len(load_digits().images) == 1797
    # Every digit lands in exactly one split, with its own label.
    lookup = {d.tobytes(): c for d, c in zip(digits, classes)}
    seen = [d.tobytes() for split in parts.values() for d in split[0]]
    assert len(set(seen)) == len({d.tobytes() for d in digits}) and len(seen) == 1797
    for images, labels in parts.values():
        assert all(lookup[d.tobytes()] == c for d, c in zip(images, labels))
    assert len(np.unique(parts["test"][1])) == 10
    with pytest.raises(UserError, match="--num_images: only for --channels 3"):
        run(["create_digits", str(tmp_path / "x"), "--channels", "1", "--num_images", "5"])


def test_create_celeba_crop_shuffle_and_attributes(tmp_path):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=12)
    out = str(tmp_path / "datasets" / "celeba_10k") + "/"  # the README's trailing slash
    run(["create_celeba", out, img_dir, "--num_images", "10"])
    out = out.rstrip("/")
    assert os.path.isfile(os.path.join(out, "celeba_10k-r07.tfrecords"))
    per_res, nv_labels = fixtures.read_like_nvidia(out)
    crops = per_res[128]
    assert crops.shape == (10, 3, 128, 128)
    order = nv_order(10)
    for k, i in enumerate(order + 1):  # image numbers are 1-based file names
        expected = fixtures.celeba_image(i)[121 - 64:121 + 64, 89 - 64:89 + 64].transpose(2, 0, 1)
        assert np.array_equal(crops[k], expected)
        assert crops[k][0, 64, 64] == i % 256  # the crop is centred at (cx, cy) = (89, 121)
        assert np.array_equal(nv_labels[k], (np.array(fixtures.celeba_attrs(i)) > 0).astype(np.float32))
    meta = json.load(open(os.path.join(out, "dataset.json")))
    assert meta["label_names"] == fixtures.CELEBA_ATTRS and meta["label_kind"] == "attributes"


def test_create_celeba_jpg_unshuffled_shifts(tmp_path):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=12, ext=".jpg")
    out = str(tmp_path / "c")
    run(["create_celeba", out, img_dir, "--num_images", "5", "--num_shifts", "2", "--shuffle", "0"])
    ds = ImageDataset(out)
    # first num_images - num_shifts, then the last num_shifts images
    expected = [1, 2, 3, 11, 12]
    assert np.array_equal(ds.labels[:, 2], [1.0 if i % 2 == 0 else 0.0 for i in expected])


def test_create_cifar10_folder_and_tarball(tmp_path):
    folder = fixtures.make_cifar10_dir(str(tmp_path / "src"))
    tarball = fixtures.make_cifar10_dir(str(tmp_path / "src2"), tarball=True)
    run(["create_cifar10", str(tmp_path / "a"), folder])
    run(["create_cifar10", str(tmp_path / "b"), tarball])
    a, la = fixtures.read_like_nvidia(str(tmp_path / "a"))
    b, lb = fixtures.read_like_nvidia(str(tmp_path / "b"))
    assert np.array_equal(a[32], b[32]) and np.array_equal(la, lb)
    order = nv_order(30)
    assert a[32].shape == (30, 3, 32, 32)
    assert list(a[32][:, 0, 0, 0]) == list(order)  # pixel (0,0,0) holds the global index
    assert np.array_equal(la.argmax(1), order % 10)
    assert json.load(open(tmp_path / "a" / "dataset.json"))["label_names"][0] == "airplane"


def test_create_cifar100(tmp_path):
    folder = fixtures.make_cifar100_dir(str(tmp_path / "src"), num=20)
    run(["create_cifar100", str(tmp_path / "c"), folder])
    ds = ImageDataset(str(tmp_path / "c"))
    assert ds.num_images == 20 and ds.label_dim == 100
    assert np.array_equal(ds.class_numbers(), nv_order(20) % 100)


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = fixtures.make_cifar100_dir(str(tmp_path / "src"), num=4)

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with open(os.path.join(folder, "train"), "wb") as f:
        pickle.dump({"data": Evil()}, f)
    with pytest.raises(Exception, match="refusing to load"):
        run(["create_cifar100", str(tmp_path / "c"), folder])
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "c").exists()


def test_create_svhn_from_mat(tmp_path):
    x = np.random.RandomState(0).randint(0, 256, size=(32, 32, 3, 8)).astype(np.uint8)
    x[0, 0, 0, :] = np.arange(8)
    y = np.array([[10], [1], [2], [3], [4], [5], [6], [7]])
    os.makedirs(tmp_path / "svhn")
    scipy.io.savemat(str(tmp_path / "svhn" / "train_32x32.mat"), {"X": x, "y": y})
    run(["create_svhn", str(tmp_path / "s"), str(tmp_path / "svhn")])
    per_res, labels = fixtures.read_like_nvidia(str(tmp_path / "s"))
    order = nv_order(8)
    assert list(per_res[32][:, 0, 0, 0]) == list(order)
    assert list(labels.argmax(1)) == list((y[:, 0] % 10)[order])  # '10' is the digit 0


def test_create_from_images_and_labels_from_dirs(tmp_path):
    fixtures.make_image_folder(str(tmp_path / "imgs"), num=6, size=16)
    run(["create_from_images", str(tmp_path / "a"), str(tmp_path / "imgs"), "--shuffle", "0"])
    per_res, labels = fixtures.read_like_nvidia(str(tmp_path / "a"))
    assert per_res[16].shape == (6, 3, 16, 16) and labels is None
    assert list(per_res[16][:, 0, 0, 0]) == list(range(6))

    fixtures.make_image_folder(str(tmp_path / "classes"), num=6, size=16, subdirs=["cat", "dog"])
    run(["create_from_images", str(tmp_path / "b"), str(tmp_path / "classes"), "--labels_from_dirs", "--shuffle", "0"])
    ds = ImageDataset(str(tmp_path / "b"))
    assert ds.label_names == ["cat", "dog"] and list(ds.class_numbers()) == [0, 0, 0, 1, 1, 1]


def test_classes_idx_keeps_a_slice_of_the_sorted_class_folders(tmp_path):
    """ACGAN-PyTorch's folder.py classes_idx=(start, end): sorted class folders start..end-1, numbered from 0."""
    fixtures.make_image_folder(str(tmp_path / "classes"), num=8, size=16, subdirs=["n04", "n01", "n03", "n02"])
    run(["create_from_images", str(tmp_path / "b"), str(tmp_path / "classes"), "--labels_from_dirs", "--shuffle", "0",
         "--classes_idx", "1,3"])
    ds = ImageDataset(str(tmp_path / "b"))
    assert ds.label_names == ["n02", "n03"] and ds.label_dim == 2 and list(ds.class_numbers()) == [0, 0, 1, 1]
    assert list(fixtures.read_like_nvidia(str(tmp_path / "b"))[0][16][:, 0, 0, 0]) == [3, 7, 2, 6]  # n02's, n03's
    for argv, fragment in [(["--classes_idx", "2,5"], "--classes_idx 2,5: " + str(tmp_path / "classes") + " has 4 "
                                                      "class sub-folders; give START,END with 0 <= START < END <= 4"),
                           (["--classes_idx", "3"], "argument --classes_idx: '3': expected START,END")]:
        with pytest.raises(UserError) as info:
            run(["create_from_images", str(tmp_path / "c"), str(tmp_path / "classes"), "--labels_from_dirs", *argv])
        assert fragment in str(info.value) and not os.path.exists(tmp_path / "c")
    with pytest.raises(UserError, match="--classes_idx: selects class sub-folders; add --labels_from_dirs"):
        run(["create_from_images", str(tmp_path / "d"), str(tmp_path / "classes"), "--classes_idx", "0,1"])


def test_create_from_images_resize_and_gray(tmp_path):
    for i in range(3):
        PIL.Image.fromarray(np.full((20, 30), 40 * i, np.uint8), "L").save(tmp_path / f"g{i}.png")
    run(["create_from_images", str(tmp_path / "out"), str(tmp_path), "--resolution", "8", "--shuffle", "0"])
    ds = ImageDataset(str(tmp_path / "out"))
    assert ds.shape == [8, 8, 1]
    images, _, _ = next(ds.iterate_numpy())
    assert np.allclose(images[:, 0, 0, 0], np.array([0, 40, 80]) / 127.5 - 1, atol=1e-6)


def test_create_from_hdf5(tmp_path):
    data = np.random.RandomState(0).randint(0, 256, size=(6, 3, 8, 8)).astype(np.uint8)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["data4x4"] = data[:, :, ::2, ::2]
        f["data8x8"] = data
    np.save(tmp_path / "a-labels.npy", np.arange(6, dtype=np.float32)[:, None])
    run(["create_from_hdf5", str(tmp_path / "out"), str(tmp_path / "a.h5"), "--shuffle", "0"])
    per_res, labels = fixtures.read_like_nvidia(str(tmp_path / "out"))
    assert np.array_equal(per_res[8], data) and list(labels[:, 0]) == list(range(6))


def test_create_lsun(tmp_path):
    import io

    import lmdb

    env = lmdb.open(str(tmp_path / "lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(4):
            img = np.full((12, 20, 3), 50 * i, np.uint8)
            buf = io.BytesIO()
            PIL.Image.fromarray(img).save(buf, format="WEBP", lossless=True)
            txn.put(f"{i:04d}".encode(), buf.getvalue())
        txn.put(b"9999", b"not an image")
    env.close()
    run(["create_lsun", str(tmp_path / "out"), str(tmp_path / "lmdb"), "--resolution", "8", "--max_images", "3"])
    per_res, _ = fixtures.read_like_nvidia(str(tmp_path / "out"))
    assert per_res[8].shape == (3, 3, 8, 8) and list(per_res[8][:, 0, 4, 4]) == [0, 50, 100]


def test_original_tools_datasets_read_back(tmp_path):
    images = np.random.RandomState(1).randint(0, 256, size=(9, 3, 8, 8)).astype(np.uint8)
    labels = np.eye(3, dtype=np.float32)[np.arange(9) % 3]
    fixtures.write_like_nvidia(str(tmp_path / "nv") + "/", images, labels)  # trailing slash: files '-r03.tfrecords'
    assert os.path.isfile(tmp_path / "nv" / "-r03.tfrecords")
    ds = ImageDataset(str(tmp_path / "nv"))
    assert ds.num_images == 9 and ds.shape == [8, 8, 3] and ds.info.meta == {}
    got, got_labels, idx = next(ds.iterate_numpy(batch_size=9))
    assert np.allclose(got, images.transpose(0, 2, 3, 1) / 127.5 - 1, atol=1e-6)
    assert np.array_equal(got_labels, labels) and list(idx) == list(range(9))
    run(["compare", str(tmp_path / "nv"), str(tmp_path / "nv")])


def test_tfds_reads_our_records(tmp_path):
    import tensorflow_datasets as tfds

    fixtures.make_mnist_dir(str(tmp_path / "mnist"), num=10)
    run(["create_mnist", str(tmp_path / "m"), str(tmp_path / "mnist")])
    per_res, _ = fixtures.read_like_nvidia(str(tmp_path / "m"))
    builder = tfds.builder_from_directory(str(tmp_path / "m"))
    assert set(builder.info.splits) == {"r05", "r04", "r03", "r02"}
    got = [np.frombuffer(ex["data"], np.uint8).reshape(ex["shape"]) for ex in tfds.as_numpy(builder.as_dataset(split="r05"))]
    assert np.array_equal(np.stack(got), per_res[32])


def test_tfds_sources(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from stylegan2.dataset_tool import tfds_source

    monkeypatch.setattr(tfds_source, "_online", lambda timeout=3.0: True)  # download_and_prepare is mocked below
    with tfds.testing.mock_data(num_examples=12):
        run(["create_mnist", str(tmp_path / "m"), "--tfds", "--tfds_data_dir", str(tmp_path / "tfds")])
        run(["create_mnistrgb", str(tmp_path / "s"), "--tfds", "--num_images", "20"])
        run(["create_cifar10", str(tmp_path / "c"), "--tfds"])
        run(["create_svhn", str(tmp_path / "v"), "--tfds"])
        run(["create_celeba", str(tmp_path / "a"), "--tfds", "--num_images", "5"])
    assert ImageDataset(str(tmp_path / "m")).shape == [32, 32, 1]
    assert ImageDataset(str(tmp_path / "s")).label_dim == 1000
    assert len(ImageDataset(str(tmp_path / "c")).label_names) == 10  # names come from metadata, absent in mocks
    assert ImageDataset(str(tmp_path / "v")).num_images == 12
    celeba = ImageDataset(str(tmp_path / "a"))
    assert celeba.shape == [128, 128, 3] and celeba.label_dim == 40 and "Eyeglasses" in celeba.label_names


def test_tfds_offline_without_prepared_data_says_what_to_do(tmp_path, monkeypatch):
    from stylegan2.dataset_tool import tfds_source

    monkeypatch.setattr(tfds_source, "_online", lambda timeout=3.0: False)
    with pytest.raises(Exception, match="not prepared there and there is no network.*--tfds_data_dir"):
        run(["create_mnist", str(tmp_path / "m"), "--tfds", "--tfds_data_dir", str(tmp_path / "empty")])
    assert not (tmp_path / "m").exists()


def test_inspection_commands(tmp_path, capsys):
    img_dir = fixtures.make_celeba_dir(str(tmp_path / "celeba"), num=6)
    out = str(tmp_path / "c")
    run(["create_celeba", out, img_dir])
    summary = run(["info", out])
    assert summary["images"] == 6 and summary["records_read"] == 6 and summary["label_dim"] == 40
    run(["display", out, "--num_images", "4", "--output", str(tmp_path / "grid.png")])
    assert PIL.Image.open(tmp_path / "grid.png").size == (256, 256)
    assert run(["extract", out, str(tmp_path / "x")]) == 6
    lines = open(tmp_path / "x" / "labels.txt").read().splitlines()
    assert lines[0].startswith("img00000000.png ") and len(lines) == 6
    first = ImageDataset(out).labels[0]
    assert set(lines[0].split()[1:]) == {n for n, v in zip(fixtures.CELEBA_ATTRS, first) if v}
    result = run(["compare", out, out])
    assert result["identical_images"] == 6 and result["identical_labels"] == 6
    printed = capsys.readouterr().out
    assert "Identical images: 6 / 6" in printed and "Labels       40 columns" in printed


REAL_MNIST = os.environ.get("MNIST_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist"))


@pytest.mark.skipif(not os.path.isdir(REAL_MNIST), reason="optional: the real MNIST test set is not in a user's clone")
def test_real_mnist_test_split_stacked_has_all_1000_modes(tmp_path):
    mnist_dir = REAL_MNIST
    out = str(tmp_path / "stacked")
    run(["create_mnistrgb", out, mnist_dir, "--split", "test", "--num_images", "24000", "--lods=false"])
    summary = run(["info", out])
    assert summary["classes_present"] == 1000 and summary["images"] == 24000
