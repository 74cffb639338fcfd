"""stylegan2.importers: NVIDIA StyleGAN2 TF1 / InclusiveGAN / StyleGAN2-ADA pickles, written here in the originals'
exact layout (tests/nvidia_pickles.py) from known weights, imported, and checked against NVIDIA's maths transcribed
to NumPy (tests/nvidia_reference.py); pickles that carry code are refused and run nothing."""

import os
import pickle
import pickletools

import keras
import numpy as np
import pytest

from stylegan2 import generate
from stylegan2.errors import UserError
from stylegan2.importers import cli as convert_cli
from stylegan2.importers import import_network_pickle
from stylegan2.importers.unpickler import decode_torch_storage
from stylegan2.training.snapshot import load_snapshot
from tests import nvidia_pickles as npk
from tests import nvidia_reference as ref
from tests.fixtures import one_line_user_error

LATENT = 8
TF1_G_KWARGS = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=8, latent_size=LATENT,
                    dlatent_size=LATENT, mapping_layers=2, mapping_fmaps=LATENT)
TF1_D_KWARGS = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=8)


def close(actual, expected):
    """Equal to 1e-5 of the outputs' scale (float32 here, float64 in the reference)."""
    expected = np.asarray(expected, np.float64)
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0,
                               atol=1e-5 * max(1.0, np.abs(expected).max()))


def nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


def nhwc(x):
    return np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 2, 3, 1))


def write(tmp_path, data, name="network.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def tf1_pickle(tmp_path, rng, G_arch="skip", D_arch="resnet", label_size=0, ig=False, numpy_names="numpy1",
               G_extra=None, D_extra=None, protocol=None):
    """A TF1 (G, D, Gs) pickle of random weights; returns (path, G params, D params, Gs params)."""
    kwargs = dict(label_size=label_size, G_arch=G_arch, D_arch=D_arch, latent=LATENT, ig=ig)
    Gp, Dp = npk.tf1_params(rng, **kwargs)
    Gsp, _ = npk.tf1_params(rng, **kwargs)
    G_kwargs = dict(TF1_G_KWARGS, label_size=label_size, architecture=G_arch, **(G_extra or {}))
    D_kwargs = dict(TF1_D_KWARGS, label_size=label_size, architecture=D_arch, **(D_extra or {}))
    if ig:
        G_kwargs["init_mul"] = 0.5  # IG run_training.py: G = EasyDict(func_name=..., init_mul=init_mul)
    nets = npk.tf1_networks(Gp, Dp, Gsp, G_kwargs, D_kwargs, D_func="D_stylegan2_feature" if ig else "D_stylegan2")
    return write(tmp_path, npk.dump_tf1(nets, numpy_names, protocol)), Gp, Dp, Gsp


def ada_pickle(tmp_path, rng, G_arch="skip", D_arch="resnet", c_dim=0, conv_clamp=None):
    kwargs = dict(c_dim=c_dim, G_arch=G_arch, D_arch=D_arch)
    Gp, Dp = npk.ada_params(rng, **kwargs)
    Gep, _ = npk.ada_params(rng, **kwargs)
    data = npk.ada_snapshot(Gp, Dp, Gep, dict(c_dim=c_dim, architecture=G_arch, conv_clamp=conv_clamp),
                            dict(c_dim=c_dim, architecture=D_arch, conv_clamp=conv_clamp))
    return write(tmp_path, npk.dump_ada(data)), Gp, Dp, Gep


# === TF1 (NVIDIA StyleGAN2, InclusiveGAN) ===


@pytest.mark.parametrize("G_arch, D_arch, label_size", [("skip", "resnet", 0), ("resnet", "skip", 3),
                                                         ("orig", "orig", 0)])
def test_tf1_pickle_reproduces_nvidia_outputs(tmp_path, G_arch, D_arch, label_size):
    rng = np.random.default_rng(1)
    path, Gp, Dp, Gsp = tf1_pickle(tmp_path, rng, G_arch, D_arch, label_size)
    snap = import_network_pickle(path)
    z = rng.standard_normal((3, LATENT))
    labels = np.eye(label_size)[[0, 2, 1]] if label_size else None
    c = None if labels is None else labels.astype(np.float32)
    # Gs -> G_ema, with NVIDIA's truncation (w_avg = dlatent_avg) and the stored noise (randomize_noise=False).
    close(nchw(snap.G_ema(z.astype(np.float32), c, truncation_psi=0.6, noise_mode="const")),
          ref.tf1_G(Gsp, z, labels, architecture=G_arch, psi=0.6))
    close(nchw(snap.G(z.astype(np.float32), c, noise_mode="const")), ref.tf1_G(Gp, z, labels, architecture=G_arch))
    img = rng.standard_normal((4, 3, 8, 8))
    d_labels = np.eye(label_size)[[0, 1, 2, 0]] if label_size else None
    close(snap.D(nhwc(img), None if d_labels is None else d_labels.astype(np.float32)),
          ref.tf1_D(Dp, img, d_labels, architecture=D_arch))
    assert snap.G.c_dim == snap.D.c_dim == label_size
    assert snap.D.head == ("projection" if label_size else "unconditional")
    source = snap.metadata["source"]
    assert snap.metadata["method"] == "stylegan2" and source["format"] == "stylegan2-tf1"
    assert source["networks"] == "G_main, D_stylegan2" and source["truncation_psi"] == 0.5
    assert len(source["sha256"]) == 64 and source["file"] == os.path.abspath(path)


def test_inclusivegan_pickle_imports_as_its_format(tmp_path):
    """IG: G_main records init_mul; G_mapping's LabelConcat is commented out (no label weights although
    label_size=5); D_stylegan2_feature outputs dense(1), ignores labels and squeezes the scores."""
    rng = np.random.default_rng(2)
    path, _, Dp, Gsp = tf1_pickle(tmp_path, rng, label_size=5, ig=True)
    snap = import_network_pickle(path)
    assert snap.metadata["method"] == "stylegan2" and snap.metadata["source"]["format"] == "InclusiveGAN-tf1"
    assert snap.metadata["source"]["truncation_psi"] == 0.6  # IG's G_main default
    assert snap.metadata["source"]["networks"] == "G_main, D_stylegan2_feature"
    assert snap.G_ema.c_dim == 0 and snap.D.head == "unconditional"
    assert snap.G_ema.get_config()["synthesis_kwargs"]["init_mul"] == 0.5
    z = rng.standard_normal((2, LATENT))
    close(nchw(snap.G_ema(z.astype(np.float32), noise_mode="const")), ref.tf1_G(Gsp, z))
    img = rng.standard_normal((6, 3, 8, 8))
    scores = np.asarray(snap.D(nhwc(img)))
    close(scores[:, 0], ref.tf1_D(Dp, img, mbstd_group_size=6, feature_output=True))  # IG's group of 6


@pytest.mark.parametrize("protocol", [5, 4, 2])
def test_numpy2_pickles_import_the_same(tmp_path, protocol):
    """Pickles written under NumPy >= 2 name numpy._core.*; protocol 5 rebuilds arrays with
    numpy._core.numeric._frombuffer, protocol 2 writes their bytes through _codecs.encode."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = tf1_pickle(tmp_path / "a", np.random.default_rng(3))
    new = tf1_pickle(tmp_path / "b", np.random.default_rng(3), numpy_names="numpy2", protocol=protocol)
    old_bytes, new_bytes = open(old[0], "rb").read(), open(new[0], "rb").read()
    assert b"numpy.core.multiarray" in old_bytes and b"_reconstruct" in old_bytes and b"numpy._core" not in old_bytes
    assert {5: b"_frombuffer", 4: b"numpy._core.multiarray", 2: b"_codecs"}[protocol] in new_bytes
    a, b = import_network_pickle(old[0]), import_network_pickle(new[0])
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())


def pickle_globals(data):
    """The module.name of every global a protocol-4 pickle names (GLOBAL, and STACK_GLOBAL of the two strings pushed
    before it, also through the memo), read with pickletools: nothing is unpickled."""
    names, pushed, memo, last_push = set(), [], [], None
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            pushed.append(arg)
            last_push = arg
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
            last_push = memo[arg]
        elif op.name == "MEMOIZE":
            memo.append(last_push)
        elif op.name == "STACK_GLOBAL":
            names.add(f"{pushed[-2]}.{pushed[-1]}")
            last_push = None
        elif op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
            last_push = None
        elif op.name not in ("FRAME", "PROTO", "MARK", "STOP"):
            last_push = None  # anything else leaves a non-string on top
    return names


def test_the_test_pickles_name_exactly_nvidias_globals(tmp_path):
    """The byte streams name the globals pickles.md lists for NVIDIA's files (protocol 4, NumPy 1.x), no more."""
    tf1 = open(tf1_pickle(tmp_path, np.random.default_rng(4))[0], "rb").read()
    assert pickle_globals(tf1) == {"dnnlib.tflib.network.Network", "numpy.core.multiarray._reconstruct",
                                   "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray.scalar"}
    assert tf1[:2] == b"\x80\x04" and b"build_module_src" in tf1
    ada = open(ada_pickle(tmp_path, np.random.default_rng(5))[0], "rb").read()
    assert pickle_globals(ada) == {"torch_utils.persistence._reconstruct_persistent_obj", "collections.OrderedDict",
                                   "torch._utils._rebuild_parameter", "torch._utils._rebuild_tensor_v2",
                                   "torch.storage._load_from_bytes", "numpy.core.multiarray.scalar", "numpy.dtype",
                                   "dnnlib.util.EasyDict"}
    assert ada[:2] == b"\x80\x04" and b"module_src" in ada


# === StyleGAN2-ADA (PyTorch) ===


@pytest.mark.parametrize("G_arch, D_arch, c_dim, conv_clamp", [("skip", "resnet", 0, None),
                                                                ("resnet", "skip", 3, 0.7),
                                                                ("orig", "orig", 0, 256)])
def test_ada_pickle_reproduces_nvidia_outputs(tmp_path, G_arch, D_arch, c_dim, conv_clamp):
    """ADA's up-sampling convs are true convolutions, its weights [out,in,k,k], its D flattens NCHW, its labels go
    through `embed` and D's own mapping network (cmap), and conv_clamp clips (0.7 clips here)."""
    rng = np.random.default_rng(6)
    path, Gp, Dp, Gep = ada_pickle(tmp_path, rng, G_arch, D_arch, c_dim, conv_clamp)
    snap = import_network_pickle(path)
    z = rng.standard_normal((3, LATENT))
    c = np.eye(c_dim)[[0, 2, 1]] if c_dim else None
    cf = None if c is None else c.astype(np.float32)
    close(nchw(snap.G_ema(z.astype(np.float32), cf, truncation_psi=0.7, noise_mode="const")),
          ref.ada_G(Gep, z, c, architecture=G_arch, psi=0.7, conv_clamp=conv_clamp))
    close(nchw(snap.G(z.astype(np.float32), cf, noise_mode="const")),
          ref.ada_G(Gp, z, c, architecture=G_arch, conv_clamp=conv_clamp))
    img = rng.standard_normal((4, 3, 8, 8))
    dc = np.eye(c_dim)[[0, 1, 2, 0]] if c_dim else None
    close(snap.D(nhwc(img), None if dc is None else dc.astype(np.float32)),
          ref.ada_D(Dp, img, dc, architecture=D_arch, conv_clamp=conv_clamp))
    assert snap.D.head == ("cmap" if c_dim else "unconditional") and snap.G.c_dim == c_dim
    assert snap.metadata["source"]["format"] == "stylegan2-ada-pytorch" and snap.metadata["method"] == "stylegan2"


def test_torch_storage_streams_decode_without_torch():
    """The legacy torch.save stream of a storage (written byte for byte as torch 2.13 writes it; checked against
    torch.save in an experiment, see the README) decodes to its elements."""
    values = np.random.default_rng(7).standard_normal(11).astype(np.float32)
    np.testing.assert_array_equal(decode_torch_storage(npk.legacy_storage_bytes(values)), values)
    for storage, dtype in npk.STORAGE_TYPES.items():
        typed = (values * 10).astype(dtype)
        decoded = decode_torch_storage(npk.legacy_storage_bytes(typed, storage=storage))
        assert decoded.dtype == typed.dtype.newbyteorder("=")
        np.testing.assert_array_equal(decoded, typed)
    with pytest.raises(Exception, match="elements"):
        decode_torch_storage(npk.legacy_storage_bytes(values)[:-4])


# === Refusals and unmappable pickles ===


class Payload:
    def __init__(self, target, args):
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


def test_a_pickle_carrying_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    payloads = {
        f"{os.system.__module__}.system": Payload(os.system, (f"touch {marker}",)),
        "builtins.exec": Payload(exec, (f"open({str(marker)!r}, 'w').close()",)),
        "builtins.eval": Payload(eval, (f"open({str(marker)!r}, 'w')",)),
    }
    for name, payload in payloads.items():
        path = write(tmp_path, pickle.dumps(payload), f"{name}.pkl")
        message = one_line_user_error(import_network_pickle, path, "refused, nothing from it was run", name)
        assert not marker.exists(), message
    # Hidden inside an otherwise well-formed NVIDIA pickle: as a static kwarg of G.
    hidden = {"fmap_decay": Payload(os.system, (f"touch {marker}",))}
    path = tf1_pickle(tmp_path, np.random.default_rng(8), G_extra=hidden)[0]
    one_line_user_error(import_network_pickle, path, "refused", f"{os.system.__module__}.system")
    # Through a command line: one line, exit code 2, no run directory, no marker.
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["generate-images", f"--network={path}", "--seeds=1", f"--result-dir={tmp_path / 'out'}"])
    assert exit_info.value.code == 2
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("module, name", [("dnnlib.tflib.network", "exec_src"), ("torch._utils", "_rebuild_qtensor"),
                                          ("subprocess", "Popen"), ("copyreg", "_reconstructor")])
def test_an_unknown_global_is_refused(tmp_path, module, name):
    data = pickle.PROTO + b"\x04" + f"c{module}\n{name}\n".encode() + b")R."  # GLOBAL, EMPTY_TUPLE, REDUCE, STOP
    one_line_user_error(import_network_pickle, write(tmp_path, data), f"names {module}.{name}")


def test_unmappable_pickles_name_the_key(tmp_path):
    rng = np.random.default_rng(9)
    Gp, Dp = npk.tf1_params(rng, latent=LATENT)

    def attempt(G_params=Gp, D_params=Dp, G_kwargs=TF1_G_KWARGS, D_kwargs=TF1_D_KWARGS, G_func=None, **fragments):
        nets = npk.tf1_networks(G_params, D_params, G_params, G_kwargs, D_kwargs)
        if G_func:
            nets[0]._state["build_func_name"] = G_func
        return one_line_user_error(import_network_pickle, write(tmp_path, npk.dump_tf1(nets)), "cannot import",
                                   *fragments.values())

    attempt(G_params={**Gp, "synthesis/8x8/Conv1/extra": np.zeros(3, np.float32)},
            key="G synthesis/8x8/Conv1/extra: no counterpart")
    attempt(G_params={k: v for k, v in Gp.items() if k != "synthesis/noise1"},
            key="no value for synthesis/b8.conv0/noise_const")
    attempt(D_kwargs=dict(TF1_D_KWARGS, structure="fixed"), key="D kwarg structure='fixed'")
    attempt(G_kwargs=dict(TF1_G_KWARGS, nonlinearity="relu"), key="kwarg nonlinearity='relu'")
    attempt(G_kwargs=dict(TF1_G_KWARGS, fmap_max=16), key="G synthesis/4x4/Const/const: shape")
    attempt(G_func="G_style", key="StyleGAN (2019) networks are not supported")
    attempt(G_kwargs=dict(TF1_G_KWARGS, architecture="dense"), key="unknown architecture 'dense'")
    # ADA: a StyleGAN3 module in the tree.
    Gp2, Dp2 = npk.ada_params(rng)
    data = npk.ada_snapshot(Gp2, Dp2, Gp2)
    data["G_ema"].state["_modules"]["synthesis"].state["_modules"]["input"] = npk.Module("SynthesisInput", {})
    one_line_user_error(import_network_pickle, write(tmp_path, npk.dump_ada(data)), "G_ema synthesis.input",
                        "StyleGAN3")
    one_line_user_error(import_network_pickle, write(tmp_path, pickle.dumps({"G": 1})), "holds a dict")
    one_line_user_error(import_network_pickle, write(tmp_path, b"not a pickle"), "not a readable network pickle")
    one_line_user_error(import_network_pickle, str(tmp_path / "missing.pkl"), "no such network pickle")


# === Round trip, commands ===


def test_pkl_to_keras_round_trip_gives_equal_outputs(tmp_path, capsys):
    rng = np.random.default_rng(10)
    path = ada_pickle(tmp_path, rng, "skip", "resnet", c_dim=3, conv_clamp=0.9)[0]
    imported = import_network_pickle(path)
    dest = str(tmp_path / "net.keras")
    convert_cli.main([path, dest])
    assert "Wrote" in capsys.readouterr().out
    loaded = load_snapshot(dest)
    assert loaded.metadata == imported.metadata
    z, c = rng.standard_normal((2, LATENT)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 2]]
    img = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    for a, b in ((imported, loaded),):
        np.testing.assert_array_equal(a.G_ema(z, c, truncation_psi=0.5, noise_mode="const"),
                                      b.G_ema(z, c, truncation_psi=0.5, noise_mode="const"))
        np.testing.assert_array_equal(a.D(img, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]),
                                      b.D(img, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]))
    one_line_user_error(convert_cli.main.__wrapped__, [path, str(tmp_path / "net.h5")], "must be a .keras file")


def test_generate_images_from_a_pkl(tmp_path):
    rng = np.random.default_rng(11)
    path, _, _, Gsp = tf1_pickle(tmp_path, rng)
    out = generate.run(["generate-images", f"--network={path}", "--seeds=3,5", "--truncation-psi=1",
                        "--noise-mode=const", f"--result-dir={tmp_path / 'out'}"])
    assert sorted(os.listdir(out)) == ["seed0003.png", "seed0005.png"]
    G = generate.load_generator(path)
    z = np.random.RandomState(5).randn(1, LATENT)  # NVIDIA's z of seed 5
    expected = np.clip(np.rint((ref.tf1_G(Gsp, z)[0].transpose(1, 2, 0) + 1) * 127.5), 0, 255)  # convert_to_pil_image
    import PIL.Image

    written = np.asarray(PIL.Image.open(os.path.join(out, "seed0005.png")), np.float64)
    assert np.abs(written - expected).max() <= 1  # rounding of values at .5 may differ
    assert G.z_dim == LATENT


@pytest.mark.slow
def test_config_f_1024_import_has_nvidias_parameter_counts(tmp_path):
    """NVIDIA's stylegan2-ffhq-config-f.pkl layout (static kwargs as run_training.py --config=config-f writes them:
    num_channels, resolution, label_size; everything else the build functions' defaults)."""
    rng = np.random.default_rng(12)
    Gp, Dp = npk.tf1_params(rng, resolution=1024, fmap_base=16384, fmap_max=512, latent=512, mapping_layers=8)
    G_kwargs = dict(num_channels=3, resolution=1024, label_size=0)
    nets = npk.tf1_networks(Gp, Dp, Gp, G_kwargs, G_kwargs)
    path = write(tmp_path, npk.dump_tf1(nets), "stylegan2-ffhq-config-f.pkl")
    del nets, Gp, Dp
    snap = import_network_pickle(path)

    def count(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    assert (count(snap.G.mapping), count(snap.G.synthesis), count(snap.D)) == (2_101_248, 28_268_812, 29_012_513)
    assert count(snap.G_ema) == 30_370_060 and snap.metadata["config"] == "config-f"
    assert keras.ops.shape(snap.G_ema.w_avg) == (512,)


TINY_G_KWARGS = dict(num_channels=3, resolution=8, label_size=0, fmap_base=128, fmap_max=16, latent_size=16,
                     dlatent_size=16, mapping_layers=2, mapping_fmaps=16)


@pytest.fixture(scope="module")
def tiny_run_inputs(tmp_path_factory):
    """An 8x8 dataset and a TF1 pickle whose networks are the 'tiny' preset's at 8 px."""
    from stylegan2.tfrecords import TFRecordExporter

    root = tmp_path_factory.mktemp("tiny")
    images = (np.random.RandomState(0).rand(32, 3, 8, 8) * 255).astype(np.uint8)
    with TFRecordExporter(str(root / "ds"), 32, progress=False) as tfr:
        tfr.add_images(images)
    rng = np.random.default_rng(13)
    Gp, Dp = npk.tf1_params(rng, fmap_base=128, fmap_max=16, latent=16)
    Gsp, _ = npk.tf1_params(rng, fmap_base=128, fmap_max=16, latent=16)
    D_kwargs = dict(num_channels=3, resolution=8, label_size=0, fmap_base=128, fmap_max=16)
    pkl = root / "network-snapshot-000120.pkl"
    pkl.write_bytes(npk.dump_tf1(npk.tf1_networks(Gp, Dp, Gsp, TINY_G_KWARGS, D_kwargs)))
    return str(root), str(pkl)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_imported_networks(tiny_run_inputs, tmp_path):
    from stylegan2.training import cli as training_cli
    from stylegan2.training.loop import TrainingLoop

    data_dir, pkl = tiny_run_inputs
    snap = import_network_pickle(pkl)
    assert snap.metadata["config"] == "tiny" and snap.metadata["source"]["kimg"] == 120
    options, _ = training_cli.build_options(["--data-dir", data_dir, "--dataset", "ds", "--config", "tiny",
                                             "--resume", pkl, "--result-dir", str(tmp_path / "r"), "--grid", "2x2"])
    loop = TrainingLoop(options)
    loop.prepare()
    for mine, imported in ((loop.G, snap.G), (loop.D, snap.D), (loop.G_ema, snap.G_ema)):
        for a, b in zip(mine.weights, imported.weights):
            assert a.path.split("/", 1)[1] == b.path.split("/", 1)[1]
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loop.nimg == 0  # as NVIDIA's and ADA's resume_pkl: the count starts again
    total, count = loop.train_iteration()["Loss/G/loss"]
    assert count == 8 and np.isfinite(total)
    options, _ = training_cli.build_options(["--data-dir", data_dir, "--dataset", "ds", "--config", "config-e",
                                             "--resume", pkl, "--result-dir", str(tmp_path / "r2")])
    one_line_user_error(lambda _: TrainingLoop(options).prepare(), None, "do not match", "--config=tiny")


def test_run_metrics_on_a_pkl(tiny_run_inputs, tmp_path, monkeypatch):
    from stylegan2.metrics import cli as metrics_cli
    from stylegan2.metrics import feature_nets
    from tests.test_metrics import STAND_INS

    data_dir, pkl = tiny_run_inputs
    monkeypatch.setattr(feature_nets, "load_feature_network", lambda name, path=None: STAND_INS[name])
    run_dir, results = metrics_cli.main.__wrapped__(
        ["--metrics", "fid50k", "--network", pkl, "--data-dir", data_dir, "--dataset", "ds",
         "--metrics-num-images", "16", "--result-dir", str(tmp_path / "r")])
    assert np.isfinite(results[pkl]["fid50k"])
    # A run directory of NVIDIA's network-snapshot-*.pkl files is evaluated snapshot by snapshot.
    assert metrics_cli.snapshots_of(os.path.dirname(pkl)) == [pkl]
    one_line_user_error(metrics_cli.main.__wrapped__, ["--metrics", "fid50k", "--network", pkl,
                                                       "--result-dir", str(tmp_path / "r")], "--dataset")


def test_run_projector_on_a_pkl(tiny_run_inputs, tmp_path, capsys):
    from inclusive import projector

    data_dir, pkl = tiny_run_inputs
    projector.run(["project-real-images", "--network", pkl, "--data-dir", data_dir, "--dataset", "ds",
                   "--num-images", "2", "--minibatch-size", "2", "--num-steps", "2", "--rec-loss", "l2",
                   "--result-dir", str(tmp_path)])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("network-snapshot-000120.pkl: IvOM = ")


def test_matching_preset():
    from stylegan2.importers.common import matching_preset

    def kwargs(fmap_base, res=1024, G_arch="skip", D_arch="resnet", head="unconditional"):
        G = dict(z_dim=512, w_dim=512, img_resolution=res, mapping_kwargs=dict(num_layers=8),
                 synthesis_kwargs=dict(architecture=G_arch, fmap_base=fmap_base, fmap_max=512))
        return G, dict(architecture=D_arch, fmap_base=fmap_base, fmap_max=512, head=head)

    assert matching_preset(*kwargs(16384)) == "config-f" and matching_preset(*kwargs(8192)) == "config-e"
    assert matching_preset(*kwargs(8192, res=32)) == "config-e"  # same weights as config-f up to 64 px
    assert matching_preset(*kwargs(16384, res=32)) == "config-f"
    assert matching_preset(*kwargs(8192, G_arch="resnet", D_arch="skip")) == "config-e-Gresnet-Dskip"
    assert matching_preset(*kwargs(16384, G_arch="resnet")) is None  # config-f has no architecture grid
    assert matching_preset(*kwargs(16384, head="cmap")) is None
