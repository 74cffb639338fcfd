#!/usr/bin/env python3
"""Check the pickle importer against NVIDIA's own StyleGAN2-ADA PyTorch code (a correctness check, not a benchmark).

Two steps in two environments. In a PyTorch environment with a checkout of NVlabs/stylegan2-ada-pytorch, `write`
builds ADA networks with NVIDIA's training/networks.py (skip/resnet/orig, conditional, conv_clamp, fp16 blocks),
randomises every parameter and buffer, pickles them exactly as ADA's training_loop.py does (with an AugmentPipe),
and saves NVIDIA's outputs; it also checks the tests' legacy storage writer against torch.save byte for byte:

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/ada
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy requests
    /tmp/torchvenv/bin/python bench/check_ada_import.py write --ada-repo /tmp/ada --out /tmp/ada-pickles

Then, in this project's environment (no torch), `compare` imports each pickle and prints the largest differences:

    python bench/check_ada_import.py compare --out /tmp/ada-pickles
"""

import argparse
import copy
import io
import os
import pickle
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF1_CONFIGS = {"tf1_skip_resnet": ("skip", "resnet"), "tf1_resnet_skip": ("resnet", "skip"), "tf1_orig_orig": ("orig", "orig")}
CONFIGS = {
    "skip_resnet": dict(G="skip", D="resnet", c_dim=0, clamp=None, fp16=0),
    "resnet_skip_cond_clamp": dict(G="resnet", D="skip", c_dim=4, clamp=0.8, fp16=2),
    "orig_orig_clamp256": dict(G="orig", D="orig", c_dim=0, clamp=256, fp16=0),
}


def write_tf1(args, torch):
    """TF1 pickles in NVIDIA's layout (tests/nvidia_pickles.py), converted by ADA's own legacy.py (which reads the
    TF1 Network state without TensorFlow): NVIDIA's reading of the TF1 layout, to compare the importer with."""
    import legacy

    from tests import nvidia_pickles as npk

    rng = np.random.default_rng(0)
    for name, (G_arch, D_arch) in TF1_CONFIGS.items():
        Gp, Dp = npk.tf1_params(rng, resolution=16, fmap_base=64, fmap_max=16, latent=16, G_arch=G_arch, D_arch=D_arch)
        Gsp, _ = npk.tf1_params(rng, resolution=16, fmap_base=64, fmap_max=16, latent=16, G_arch=G_arch, D_arch=D_arch)
        G_kwargs = dict(num_channels=3, resolution=16, label_size=0, fmap_base=64, fmap_max=16, latent_size=16,
                        dlatent_size=16, mapping_layers=2, mapping_fmaps=16, architecture=G_arch)
        D_kwargs = dict(num_channels=3, resolution=16, label_size=0, fmap_base=64, fmap_max=16, architecture=D_arch)
        path = os.path.join(args.out, f"{name}.pkl")
        with open(path, "wb") as f:
            f.write(npk.dump_tf1(npk.tf1_networks(Gp, Dp, Gsp, G_kwargs, D_kwargs)))
        with open(path, "rb") as f:
            data = legacy.load_network_pkl(f)  # ADA's converter (TF1 kernels flipped for its true convolutions)
        z = torch.from_numpy(rng.standard_normal((4, 16)).astype(np.float32))
        img_in = torch.from_numpy(rng.standard_normal((4, 3, 16, 16)).astype(np.float32))
        c = torch.zeros(4, 0)
        with torch.no_grad():
            out = dict(img=data["G_ema"](z, c, truncation_psi=0.7, noise_mode="const"),
                       imgG=data["G"](z, c, noise_mode="const"), scores=data["D"](img_in, c))
        np.savez(os.path.join(args.out, f"{name}.npz"), z=z.numpy(), c=c.numpy(), img_in=img_in.numpy(),
                 **{k: v.numpy() for k, v in out.items()})
        print(f"wrote {name}.pkl and the outputs of ADA's legacy.py conversion")


def write(args):
    sys.path.insert(0, args.ada_repo)
    sys.path.insert(0, ROOT)
    import dnnlib
    import torch
    from training.augment import AugmentPipe
    from training.networks import Discriminator, Generator

    from tests.nvidia_pickles import legacy_storage_bytes

    os.makedirs(args.out, exist_ok=True)
    t = torch.randn(3, 5)
    buf = io.BytesIO()
    torch.save(t._typed_storage(), buf, _use_new_zipfile_serialization=False)
    real = buf.getvalue()
    f = io.BytesIO(real)
    for _ in range(3):
        pickle.load(f)

    class Ids(pickle.Unpickler):  # reads the storage key torch chose (our own bytes: safe to unpickle here)
        def persistent_load(self, pid):
            return pid

    key = Ids(f).load()[2]
    print(f"tests/nvidia_pickles.py legacy_storage_bytes == torch.save bytes: "
          f"{legacy_storage_bytes(t.numpy(), key=key) == real} (torch {torch.__version__})")
    with open(os.path.join(args.out, "storage.bin"), "wb") as f:
        f.write(real)
    np.save(os.path.join(args.out, "storage.npy"), t.numpy())

    g = torch.Generator().manual_seed(0)
    for name, cfg in CONFIGS.items():
        torch.manual_seed(1)
        common = dict(c_dim=cfg["c_dim"], img_resolution=16, img_channels=3)
        G = Generator(z_dim=16, w_dim=16, mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                      synthesis_kwargs=dnnlib.EasyDict(channel_base=128, channel_max=16, num_fp16_res=cfg["fp16"],
                                                       conv_clamp=cfg["clamp"], architecture=cfg["G"]), **common)
        D = Discriminator(channel_base=128, channel_max=16, num_fp16_res=cfg["fp16"], conv_clamp=cfg["clamp"],
                          architecture=cfg["D"], mapping_kwargs=dnnlib.EasyDict(num_layers=2) if cfg["c_dim"] else {},
                          epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=4), **common)
        G_ema = copy.deepcopy(G).eval()
        with torch.no_grad():
            for module in (G, G_ema, D):
                for pname, p in list(module.named_parameters()) + list(module.named_buffers()):
                    if "resample_filter" not in pname:
                        p.add_(torch.randn(p.shape, generator=g) * 0.2)
        augment_pipe = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1)
        data = dict(training_set_kwargs=dict(dnnlib.EasyDict(class_name="training.dataset.ImageFolderDataset",
                                                             path="x.zip", use_labels=bool(cfg["c_dim"]))))
        for key, module in (("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)):
            data[key] = copy.deepcopy(module).eval().requires_grad_(False).cpu()  # training_loop.py
        with open(os.path.join(args.out, f"{name}.pkl"), "wb") as f:
            pickle.dump(data, f)
        z = torch.randn(4, 16, generator=g)
        c = torch.eye(cfg["c_dim"])[[0, 1, 2, 3]] if cfg["c_dim"] else torch.zeros(4, 0)
        img_in = torch.randn(4, 3, 16, 16, generator=g)
        with torch.no_grad():
            out = dict(img=G_ema(z, c, truncation_psi=0.7, noise_mode="const", force_fp32=True),
                       imgG=G.eval()(z, c, noise_mode="const", force_fp32=True),
                       scores=D.eval()(img_in, c, force_fp32=True))
        np.savez(os.path.join(args.out, f"{name}.npz"), z=z.numpy(), c=c.numpy(), img_in=img_in.numpy(),
                 **{k: v.numpy() for k, v in out.items()})
        print(f"wrote {name}.pkl and NVIDIA's outputs")
    write_tf1(args, torch)


def compare(args):
    sys.path.insert(0, ROOT)
    from stylegan2 import environment

    environment.configure()
    from stylegan2.importers import import_network_pickle
    from stylegan2.importers.unpickler import decode_torch_storage

    with open(os.path.join(args.out, "storage.bin"), "rb") as f:
        decoded = decode_torch_storage(f.read())
    print(f"torch-written storage decoded without torch: equal {np.array_equal(decoded.reshape(3, 5), np.load(os.path.join(args.out, 'storage.npy')))}")
    for name in list(CONFIGS) + list(TF1_CONFIGS):
        snap = import_network_pickle(os.path.join(args.out, f"{name}.pkl"))
        r = np.load(os.path.join(args.out, f"{name}.npz"))
        c = r["c"] if r["c"].shape[1] else None
        ours = dict(img=snap.G_ema(r["z"], c, truncation_psi=0.7, noise_mode="const"),
                    imgG=snap.G(r["z"], c, noise_mode="const"))
        ours = {k: np.asarray(v).transpose(0, 3, 1, 2) for k, v in ours.items()}
        ours["scores"] = np.asarray(snap.D(r["img_in"].transpose(0, 2, 3, 1), c))
        diffs = ", ".join(f"{k} {np.abs(ours[k] - r[k]).max():.2e} (of max {np.abs(r[k]).max():.2f})"
                          for k in ("img", "imgG", "scores"))
        what = "ADA legacy.py's conversion" if name in TF1_CONFIGS else "NVIDIA's"
        print(f"{name}: G_ema, G, D max |ours - {what}|: {diffs}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    w = sub.add_parser("write", help="In a torch environment: NVIDIA's pickles and outputs")
    w.add_argument("--ada-repo", required=True, help="Checkout of NVlabs/stylegan2-ada-pytorch")
    w.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="In this project's environment: import and compare")
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    write(args) if args.step == "write" else compare(args)


if __name__ == "__main__":
    main()
