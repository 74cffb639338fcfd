"""run_generator.py: generate-images (NVIDIA seeds, InclusiveGAN --num-images), style-mixing-example, interpolate.

A tiny 16 px snapshot (unconditional, and one with 5 classes) is saved once; the commands run in-process through
`stylegan2.generate.run` and twice as the real script.
"""

import os
import shutil
import subprocess
import sys

import fixtures
import numpy as np
import PIL.Image
import pytest

from stylegan2 import generate
from stylegan2.errors import UserError
from stylegan2.generate import load_generator, parse_range, run, slerp
from stylegan2.rundir import create_run_dir
from stylegan2.images import to_uint8
from stylegan2.presets import build_networks
from stylegan2.training.snapshot import save_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES = 16  # tiny preset: num_ws = 6, z_dim = 16


def _make_snapshot(path, c_dim=0):
    """G, D and a different G_ema with visible noise (noise_strength 0.5) and a non-zero w_avg."""
    G, D = build_networks("tiny", RES, 3, c_dim=c_dim)
    G_ema, _ = build_networks("tiny", RES, 3, c_dim=c_dim)
    for layer in G_ema.synthesis.convs:
        layer.noise_strength.assign(0.5)
    G_ema.mapping.w_avg.assign(np.random.RandomState(1).randn(G_ema.w_dim).astype(np.float32))
    save_snapshot(str(path), G, D, G_ema, {"kimg": 0})
    return str(path)


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return _make_snapshot(tmp_path_factory.mktemp("snap") / "network-snapshot-000000.keras")


@pytest.fixture(scope="module")
def cond_snap(tmp_path_factory):
    return _make_snapshot(tmp_path_factory.mktemp("cond") / "network-snapshot-000000.keras", c_dim=5)


@pytest.fixture(scope="module")
def loaded():
    return {}


@pytest.fixture(autouse=True)
def cached_loads(monkeypatch, loaded):
    """The commands load each snapshot file once per module (a load costs ~0.6 s of CPU); misses use the real loader."""
    real = generate.load_network

    def load(path, options=None, precision="fp32", fp16_res=4):
        key = (os.path.realpath(path), repr(sorted((options or {}).items())), precision, fp16_res)
        if key not in loaded:
            loaded[key] = real(path, options, precision, fp16_res)
        return loaded[key]

    monkeypatch.setattr(generate, "load_network", load)


def gen(tmp_path, *argv):
    """Runs a subcommand with --result-dir under tmp_path; returns its run directory."""
    return run([*argv, f"--result-dir={tmp_path / 'out'}"])


def read(path):
    return np.asarray(PIL.Image.open(path))


def assert_close(a, b):
    """uint8 images equal up to one level of rounding (CPU kernels may round differently per batch shape)."""
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def fails(argv, *fragments):
    """A one-line UserError containing every fragment, and no run directory left behind."""
    return fixtures.one_line_user_error(run, argv, *fragments)


# === Parsing ===


def test_parse_range():
    assert parse_range("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_range("6600-6602") == [6600, 6601, 6602]
    assert parse_range("5") == [5]
    assert parse_range("2, 1") == [2, 1]
    for bad in ("", "a", "3-1", "1,,2", "-1", "1-2-3", "0.5"):
        with pytest.raises(UserError, match="--seeds"):
            parse_range(bad)


def test_slerp():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    t = np.array([0.0, 0.5, 1.0])
    out = slerp(a[None], b[None], t)
    assert np.array_equal(out[0], a) and np.array_equal(out[2], b)  # exact ends
    np.testing.assert_allclose(out[1], (a + b) / np.sqrt(2))  # sin(pi/4)/sin(pi/2) of each
    np.testing.assert_allclose(slerp(a, 3 * a, 0.5), 2 * a)  # parallel: lerp


def test_create_run_dir(tmp_path):
    assert create_run_dir(str(tmp_path), "x").endswith("00000-x")
    os.mkdir(tmp_path / "00007-other")
    assert create_run_dir(str(tmp_path), "x").endswith("00008-x")

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:  # runs started together get different numbers, whatever their names
        made = list(pool.map(lambda i: os.path.basename(create_run_dir(str(tmp_path), f"run{i}")), range(8)))
    assert sorted(name[:5] for name in made) == [f"{n:05d}" for n in range(9, 17)]


# === generate-images ===


def test_generate_images_by_seed(tmp_path, snap):
    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=0-2,5", "--minibatch-size=3")
    assert os.path.basename(run_dir) == "00000-generate-images"
    assert sorted(os.listdir(run_dir)) == ["seed0000.png", "seed0001.png", "seed0002.png", "seed0005.png"]
    assert read(os.path.join(run_dir, "seed0005.png")).shape == (RES, RES, 3)
    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=1")
    assert os.path.basename(run_dir) == "00001-generate-images"


def test_uses_G_ema_with_nvidias_seeded_z_and_noise(tmp_path, snap):
    """seed s: z = RandomState(s).randn(1, z_dim), then each layer's noise from the same RandomState; psi 0.5."""
    import keras

    from stylegan2.training.snapshot import load_snapshot

    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=42")
    image = read(os.path.join(run_dir, "seed0042.png"))
    nets = load_snapshot(snap)
    rnd = np.random.RandomState(42)
    z = rnd.randn(1, nets.G_ema.z_dim).astype(np.float32)
    noise = [rnd.randn(1, h, w, 1).astype(np.float32) for h, w in nets.G_ema.synthesis.noise_shapes]
    for G, same in ((nets.G_ema, True), (nets.G, False)):
        expected = to_uint8(keras.ops.convert_to_numpy(G(z, truncation_psi=0.5, noise=noise)))[0]
        if same:
            assert_close(image, expected)
        else:
            assert np.abs(image.astype(int) - expected).max() > 10


def test_same_seed_same_image_in_any_batch(tmp_path, snap):
    """An image depends on its seed only: not on the batch size, its position, or the other seeds."""
    together = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=3,7", "--minibatch-size=2")
    alone = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=7", "--minibatch-size=1")
    swapped = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=7,3,9", "--minibatch-size=50")
    for name in ("seed0007.png",):
        assert_close(read(os.path.join(together, name)), read(os.path.join(alone, name)))
    for name in ("seed0003.png", "seed0007.png"):
        assert_close(read(os.path.join(together, name)), read(os.path.join(swapped, name)))
    const = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=7", "--noise-mode=const")
    assert not np.array_equal(read(os.path.join(alone, "seed0007.png")), read(os.path.join(const, "seed0007.png")))


def test_truncation_psi_zero_gives_w_avg(tmp_path, snap):
    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=1,2,3", "--truncation-psi=0",
                  "--noise-mode=const")
    images = [read(os.path.join(run_dir, f"seed{s:04d}.png")) for s in (1, 2, 3)]
    assert np.array_equal(images[0], images[1]) and np.array_equal(images[0], images[2])
    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=1,2", "--truncation-psi=1",
                  "--noise-mode=const")
    assert not np.array_equal(read(os.path.join(run_dir, "seed0001.png")), read(os.path.join(run_dir, "seed0002.png")))
    # psi 0 on layers 0-1 only: the images differ, but less than untruncated.
    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=1,2", "--truncation-psi=0",
                  "--truncation-cutoff=2", "--noise-mode=const")
    assert not np.array_equal(read(os.path.join(run_dir, "seed0001.png")), read(os.path.join(run_dir, "seed0002.png")))


def test_num_images_inclusivegan_stream(tmp_path, snap):
    """IG: z in batches from one RandomState(0), each batch followed by the noise variables' draws; %06d.png."""
    import keras

    run_dir = gen(tmp_path, "generate-images", f"--network={snap}", "--num-images=7", "--minibatch-size=3",
                  "--noise-mode=const")
    assert sorted(os.listdir(run_dir)) == [f"{i:06d}.png" for i in range(7)]  # exactly 7: partial last batch
    G = load_generator(snap)
    rnd = np.random.RandomState(0)
    z = []
    for _ in range(3):
        z.append(rnd.randn(3, G.z_dim))
        for h, w in G.synthesis.noise_shapes:
            rnd.randn(1, 1, h, w)
    z = np.concatenate(z)[:7].astype(np.float32)
    expected = to_uint8(keras.ops.convert_to_numpy(G(z, truncation_psi=0.5, noise_mode="const")))
    for i in (0, 4, 6):
        assert_close(read(os.path.join(run_dir, f"{i:06d}.png")), expected[i])


def test_network_run_directory_uses_latest_snapshot(tmp_path, snap, cond_snap):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(snap, run_dir / "network-snapshot-000010.keras")
    shutil.copy(cond_snap, run_dir / "network-snapshot-000020.keras")
    fails(["generate-images", f"--network={run_dir}", "--seeds=1"], "conditional on 5 classes")


# === Conditional networks ===


def test_conditional_classes(tmp_path, cond_snap):
    a = gen(tmp_path, "generate-images", f"--network={cond_snap}", "--seeds=1,2", "--class=2")
    b = gen(tmp_path, "generate-images", f"--network={cond_snap}", "--seeds=1", "--class=3")
    assert not np.array_equal(read(os.path.join(a, "seed0001.png")), read(os.path.join(b, "seed0001.png")))
    c = gen(tmp_path, "generate-images", f"--network={cond_snap}", "--num-images=3", "--class=random")
    assert len(os.listdir(c)) == 3
    out = str(tmp_path / "bad")
    fails(["generate-images", f"--network={cond_snap}", "--seeds=1", f"--result-dir={out}"],
          "--class", "conditional on 5 classes", "--class=random")
    fails(["generate-images", f"--network={cond_snap}", "--seeds=1", "--class=5", f"--result-dir={out}"],
          "--class 5", "out of range", "0..4")
    fails(["style-mixing-example", f"--network={cond_snap}", "--row-seeds=1", "--col-seeds=2", "--col-styles=0-1",
           f"--result-dir={out}"], "--class")
    assert not os.path.exists(out) or not os.listdir(out)


# === style-mixing-example ===


def test_style_mixing(tmp_path, snap):
    run_dir = gen(tmp_path, "style-mixing-example", f"--network={snap}", "--row-seeds=1,2", "--col-seeds=3,4,5",
                  "--col-styles=0-2")
    assert os.path.basename(run_dir) == "00000-style-mixing-example"
    pairs = [f"{r}-{c}.png" for r in (1, 2) for c in (3, 4, 5)]
    own = [f"{s}-{s}.png" for s in (1, 2, 3, 4, 5)]
    assert sorted(os.listdir(run_dir)) == sorted(pairs + own + ["grid.png"])
    grid = read(os.path.join(run_dir, "grid.png"))
    assert grid.shape == (3 * RES, 4 * RES, 3)  # (rows + 1) x (cols + 1) cells
    cell = lambda r, c: grid[r * RES:(r + 1) * RES, c * RES:(c + 1) * RES]  # noqa: E731
    assert not cell(0, 0).any()  # top-left blank
    assert np.array_equal(cell(0, 2), read(os.path.join(run_dir, "4-4.png")))
    assert np.array_equal(cell(2, 0), read(os.path.join(run_dir, "2-2.png")))
    assert np.array_equal(cell(2, 3), read(os.path.join(run_dir, "2-5.png")))
    mixed = read(os.path.join(run_dir, "1-3.png"))
    assert not np.array_equal(mixed, read(os.path.join(run_dir, "1-1.png")))
    assert not np.array_equal(mixed, read(os.path.join(run_dir, "3-3.png")))


def test_style_mixing_all_layers_gives_the_column_image(tmp_path, snap):
    run_dir = gen(tmp_path, "style-mixing-example", f"--network={snap}", "--row-seeds=1,2", "--col-seeds=3",
                  "--col-styles=0-5")
    for row in (1, 2):
        assert_close(read(os.path.join(run_dir, f"{row}-3.png")), read(os.path.join(run_dir, "3-3.png")))


# === interpolate ===


@pytest.mark.parametrize("space", ["z", "w"])
def test_interpolate_ends_are_the_seed_images(tmp_path, snap, space):
    seeds = gen(tmp_path, "generate-images", f"--network={snap}", "--seeds=1-3", "--truncation-psi=1",
                "--noise-mode=const")
    run_dir = gen(tmp_path, "interpolate", f"--network={snap}", "--seeds=1,2,3", "--steps=4", f"--space={space}")
    assert os.path.basename(run_dir).endswith("-interpolate")
    assert os.listdir(run_dir) == ["grid.png"]
    grid = read(os.path.join(run_dir, "grid.png"))
    assert grid.shape == (2 * RES, 4 * RES, 3)  # one row per segment, --steps frames
    cell = lambda r, c: grid[r * RES:(r + 1) * RES, c * RES:(c + 1) * RES]  # noqa: E731
    seed = lambda s: read(os.path.join(seeds, f"seed{s:04d}.png"))  # noqa: E731
    for row, (first, last) in enumerate(((1, 2), (2, 3))):
        assert_close(cell(row, 0), seed(first))
        assert_close(cell(row, 3), seed(last))
    assert not np.array_equal(cell(0, 1), cell(0, 0))


def test_interpolate_gif(tmp_path, snap):
    run_dir = gen(tmp_path, "interpolate", f"--network={snap}", "--seeds=1,2,3", "--steps=4", "--output=gif")
    assert os.listdir(run_dir) == ["interpolation.gif"]
    gif = PIL.Image.open(os.path.join(run_dir, "interpolation.gif"))
    assert gif.size == (RES, RES)
    assert gif.n_frames == 2 * 3 + 1  # shared segment ends once


# === Bad input ===


def test_bad_input_is_one_line(tmp_path, snap):
    out = str(tmp_path / "out")
    net = f"--network={snap}"
    res = f"--result-dir={out}"
    fails(["generate-images", net, "--seeds=1-x", res], "--seeds 1-x", "0-99,200")
    fails(["generate-images", net, "--seeds=9-3", res], "range 9-3 is empty")
    fails(["generate-images", net, f"--seeds={2**32}", res], "larger than")
    fails(["generate-images", f"--network={tmp_path / 'missing.keras'}", "--seeds=1", res], "missing.keras",
          "not found")
    fails(["generate-images", f"--network={tmp_path}", "--seeds=1", res], "no network-snapshot-*.keras")
    fails(["generate-images", "--network=ffhq.pkl", "--seeds=1", res], "ffhq.pkl", ".keras")
    fails(["generate-images", net, "--seeds=1", "--class=2", res], "unconditional")
    fails(["generate-images", net, "--seeds=1", "--class=dog", res], "--class dog")
    fails(["generate-images", net, "--seeds=1", "--minibatch-size=0", res], "--minibatch-size 0")
    fails(["generate-images", net, "--num-images=0", res], "--num-images 0")
    fails(["generate-images", net, "--seeds=1", "--num-images=3", res], "not allowed with argument --seeds")
    fails(["generate-images", net, "--seeds=1", "--noise-mode=loud", res], "--noise-mode", "invalid choice")
    fails(["generate-images", net, "--seeds=1", "--truncation-psi=nan", res], "--truncation-psi",
          "expected a finite number, got 'nan'")
    damaged = tmp_path / "network-snapshot-000001.keras"
    damaged.write_bytes(open(snap, "rb").read()[:5000])
    fails(["generate-images", f"--network={damaged}", "--seeds=1", res], str(damaged),
          "not a readable network snapshot (BadZipFile")
    fails(["generate-images", net, "--seeds=1", "--bogus", res], "unrecognized arguments: --bogus")
    fails(["generate-images", "--seeds=1", res], "--network")
    fails(["style-mixing-example", net, "--row-seeds=1", "--col-seeds=2", res],
          "--col-styles", "layer 6 is out of range", "6 layers (0-5)")  # the default 0-6 needs num_ws >= 7
    fails(["style-mixing-example", net, "--row-seeds=1", res], "--col-seeds")
    fails(["interpolate", net, "--seeds=4", res], "at least two seeds")
    fails(["interpolate", net, "--seeds=1,2", "--steps=1", res], "--steps 1")
    fails(["interpolate", net, "--seeds=1,2", "--space=x", res], "--space")
    (tmp_path / "file").write_text("")
    fails(["generate-images", net, "--seeds=1", f"--result-dir={tmp_path / 'file'}"], "--result-dir", "file")
    fails([], "required: <subcommand>")
    fails(["render"], "invalid choice: 'render'")
    assert not os.path.exists(out) or not os.listdir(out)


# === The real script ===


def test_script_generates_images(tmp_path, snap):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "run_generator.py"), "generate-images",
                           f"--network={snap}", "--seeds=6600-6602", "--truncation-psi=0.5", f"--result-dir={out}"],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out / "00000-generate-images")) == ["seed6600.png", "seed6601.png", "seed6602.png"]


def test_script_bad_flag_is_one_error_line(tmp_path, snap):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "run_generator.py"), "generate-images",
                           f"--network={snap}", "--seeds=1", "--psi=0.5"],
                          cwd=str(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not os.listdir(tmp_path)
