"""Tiny on-disk fixtures in the real formats of each dataset source (idx, CelebA folder, CIFAR pickles, ...).

Every image encodes its own number, so tests can check which source image landed in which record.
"""

import gzip
import os
import pickle
import tarfile

import numpy as np
import PIL.Image

CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
                "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
                "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
                "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def write_idx(path, array, magic):
    """An MNIST idx file (gzipped when the name ends in .gz): big-endian magic, dims, raw uint8 data."""
    array = np.asarray(array, np.uint8)
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if path.endswith(".gz") else raw)


def mnist_digits(num, seed=0):
    """Digits [num,28,28] whose pixel (0,0) holds the index (mod 256) and labels [num] = index % 10."""
    rnd = np.random.RandomState(seed)
    images = rnd.randint(0, 256, size=(num, 28, 28)).astype(np.uint8)
    images[:, 0, 0] = np.arange(num) % 256
    labels = (np.arange(num) % 10).astype(np.uint8)
    return images, labels


def make_mnist_dir(root, num=40, split_prefix="train"):
    os.makedirs(root, exist_ok=True)
    images, labels = mnist_digits(num)
    write_idx(os.path.join(root, f"{split_prefix}-images-idx3-ubyte.gz"), images, 2051)
    write_idx(os.path.join(root, f"{split_prefix}-labels-idx1-ubyte.gz"), labels, 2049)
    return images, labels


def celeba_image(i):
    """A 218x178 RGB image: noise, with the image number written at the crop centre (row 121, column 89)."""
    img = np.random.RandomState(i).randint(0, 256, size=(218, 178, 3)).astype(np.uint8)
    img[121, 89] = [i % 256, 7, 9]
    return img


def celeba_attrs(i):
    """A deterministic ±1 attribute row for image i (bit k of i*37 for attribute k; attribute 2 = i even)."""
    row = [1 if (i * 37 >> (k % 12)) & 1 else -1 for k in range(40)]
    row[2] = 1 if i % 2 == 0 else -1
    row[3] = 1 if i % 3 == 0 else -1
    return row


def make_celeba_dir(root, num=12, ext=".png", attr_rows=None):
    """celeba/Img/img_align_celeba_png/000001.png ... and celeba/Anno/list_attr_celeba.txt in the real layout."""
    img_dir = os.path.join(root, "Img", "img_align_celeba_png")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(os.path.join(root, "Anno"), exist_ok=True)
    for i in range(1, num + 1):
        PIL.Image.fromarray(celeba_image(i)).save(os.path.join(img_dir, f"{i:06d}{ext}"))
    rows = attr_rows if attr_rows is not None else num
    with open(os.path.join(root, "Anno", "list_attr_celeba.txt"), "w") as f:
        f.write(f"{rows}\n")
        f.write(" ".join(CELEBA_ATTRS) + " \n")
        for i in range(1, rows + 1):
            f.write(f"{i:06d}.jpg " + " ".join(f"{v:2d}" for v in celeba_attrs(i)) + "\n")
    return img_dir


def cifar_batch(num, offset, num_classes=10, label_key="labels"):
    data = np.random.RandomState(offset).randint(0, 256, size=(num, 3072)).astype(np.uint8)
    data[:, 0] = (np.arange(num) + offset) % 256  # pixel (c=0, y=0, x=0) = global index
    return {"batch_label": "fixture", label_key: [(offset + k) % num_classes for k in range(num)], "data": data}


def make_cifar10_dir(root, per_batch=6, tarball=False):
    """cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta (python pickles), or the .tar.gz."""
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    for b in range(1, 6):
        with open(os.path.join(folder, f"data_batch_{b}"), "wb") as f:
            pickle.dump(cifar_batch(per_batch, (b - 1) * per_batch), f)
    with open(os.path.join(folder, "test_batch"), "wb") as f:
        pickle.dump(cifar_batch(per_batch, 1000), f)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"]}, f)
    if not tarball:
        return folder
    path = os.path.join(root, "cifar-10-python.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return path


def make_cifar100_dir(root, num=20):
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train"), "wb") as f:
        pickle.dump(cifar_batch(num, 0, 100, "fine_labels"), f)
    with open(os.path.join(folder, "meta"), "wb") as f:
        pickle.dump({"fine_label_names": [f"class{k}" for k in range(100)]}, f)
    return folder


def make_image_folder(root, num=6, size=16, mode="RGB", subdirs=None):
    """PNG images whose pixel (0,0) red (or gray) value is their number."""
    os.makedirs(root, exist_ok=True)
    paths = []
    for i in range(num):
        sub = root if subdirs is None else os.path.join(root, subdirs[i % len(subdirs)])
        os.makedirs(sub, exist_ok=True)
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        img = np.random.RandomState(i).randint(0, 256, size=shape).astype(np.uint8)
        img[0, 0] = i
        path = os.path.join(sub, f"img{i:03d}.png")
        PIL.Image.fromarray(img, mode).save(path)
        paths.append(path)
    return paths


def read_like_nvidia(tfrecord_dir):
    """NV:training/dataset.py's view of a dataset: every *.tfrecords file with only `shape`/`data` features,
    NV's lod assertions, and the first *.labels file. Returns ({resolution: uint8 [N,C,H,W]}, labels or None)."""
    import tensorflow as tf

    files = sorted(f for f in os.listdir(tfrecord_dir) if f.endswith(".tfrecords"))
    assert files, "no .tfrecords files"
    per_res = {}
    for name in files:
        images = []
        for record in tf.data.TFRecordDataset(os.path.join(tfrecord_dir, name)):
            ex = tf.train.Example.FromString(record.numpy())
            assert set(ex.features.feature) == {"shape", "data"}
            shape = list(ex.features.feature["shape"].int64_list.value)
            data = ex.features.feature["data"].bytes_list.value[0]
            images.append(np.frombuffer(data, np.uint8).reshape(shape))
        per_res[images[0].shape[1]] = np.stack(images)
    resolution = max(per_res)
    log2 = int(np.log2(resolution))
    lods = [log2 - int(np.log2(r)) for r in per_res]
    assert all(lod in lods for lod in range(log2 - 1)), "NVIDIA's reader needs every lod file"
    labels = sorted(f for f in os.listdir(tfrecord_dir) if f.endswith(".labels"))
    return per_res, (np.load(os.path.join(tfrecord_dir, labels[0])) if labels else None)


def write_like_nvidia(tfrecord_dir, images_chw, labels=None):
    """A dataset written the way NV's TFRecordExporter does (tf.train.Example API; with NV's trailing-slash quirk
    the file prefix is empty: `<dir>/-rNN.tfrecords`)."""
    import tensorflow as tf

    os.makedirs(tfrecord_dir, exist_ok=True)
    prefix = os.path.join(tfrecord_dir, os.path.basename(tfrecord_dir))
    log2 = int(np.log2(images_chw.shape[2]))
    writers = [tf.io.TFRecordWriter(prefix + "-r%02d.tfrecords" % (log2 - lod)) for lod in range(log2 - 1)]
    for img in images_chw:
        for lod, writer in enumerate(writers):
            if lod:
                img = img.astype(np.float32)
                img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
            quant = np.rint(img).clip(0, 255).astype(np.uint8)
            ex = tf.train.Example(features=tf.train.Features(feature={
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[quant.tobytes()]))}))
            writer.write(ex.SerializeToString())
    for writer in writers:
        writer.close()
    if labels is not None:
        with open(prefix + "-rxx.labels", "wb") as f:
            np.save(f, labels.astype(np.float32))


def write_random_dataset(root, num, size=8, channels=3, seed=0, name="ds"):
    """A tiny unlabeled TFRecord dataset `root/name` of uniform-noise images (training tests); returns `root`."""
    from stylegan2.tfrecords import TFRecordExporter

    images = np.random.RandomState(seed).randint(0, 256, size=(num, channels, size, size)).astype(np.uint8)
    with TFRecordExporter(os.path.join(str(root), name), num, progress=False) as tfr:
        tfr.add_images(images)
    return str(root)


def sgd_training_loop(options, lr):
    """A prepared TrainingLoop whose G and D optimizers are plain SGD(lr), so that a phase's step is lr times the
    gradient handed to the optimizer (the tests of the step the optimizer takes)."""
    import keras

    from stylegan2.training.loop import TrainingLoop

    loop = TrainingLoop(options)
    with loop.strategy.scope():
        loop.G_opt, loop.D_opt = keras.optimizers.SGD(lr), keras.optimizers.SGD(lr)
        loop.G_opt.build(loop.G.trainable_variables)
        loop.D_opt.build(loop.D.trainable_variables)
    loop.prepare()
    return loop


def one_line_user_error(func, argv, *fragments):
    """Runs `func(argv)`, which must raise a one-line UserError containing every fragment; returns the message."""
    import pytest

    from stylegan2.errors import UserError

    with pytest.raises(UserError) as info:
        func(argv)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def lpips_standin_arrays(seed=0):
    """Small random VGG16 conv weights (4-8 channels, the real layer names) and positive LPIPS lin weights."""
    from stylegan2.metrics.feature_nets import VGG16_BLOCKS

    rng = np.random.RandomState(seed)
    widths = (4, 6, 8, 8, 8)
    vgg, cin = {}, 3
    for block, width in zip(VGG16_BLOCKS, widths):
        for name in block:
            vgg[name] = (rng.randn(3, 3, cin, width) * np.sqrt(2 / (9 * cin)), rng.randn(width) * 0.1)
            cin = width
    return vgg, [np.abs(rng.randn(w)) for w in widths]
