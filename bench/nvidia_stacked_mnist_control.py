#!/usr/bin/env python3
"""Control run for the README's Stacked MNIST section: NVIDIA's own StyleGAN2-ADA PyTorch networks and loss,
unmodified, trained on the same images with the same choices as `--config=small`, and their modes counted with the
same digit classifier. It tells a collapse of the recipe at this scale from a defect of this port.

Three steps; `export` and `modes` run in this project's environment, `train` in one with PyTorch and NVIDIA's code:

    python bench/nvidia_stacked_mnist_control.py export --data-dir datasets --dataset stacked_mnist_9600 --out reals.npy
    <torch venv>/bin/python bench/nvidia_stacked_mnist_control.py train --nv-repo <stylegan2-ada-pytorch> \\
        --reals reals.npy --out nv_control [--batch 32 --gamma 0.01 --kimg 57.6 --every 9.6 --threads 1]
    python bench/nvidia_stacked_mnist_control.py modes --digit-classifier clf.keras nv_control/samples-*.npy

`train` drives NVIDIA's `training/networks.py` and `training/loss.py` as ADA's `training/training_loop.py` does on
one device: phases Gmain, Greg (every 4th), Dmain, Dreg (every 16th) with the lazy-regularization gain (`gain =
interval`) and Adam corrections (lr and beta2 to the power interval / (interval + 1)), nan_to_num of the gradients,
and the G_ema update with ADA's half-life and ramp. The networks are `small`'s: 32 channels everywhere, z = w = 128,
2 mapping layers, G skip, D orig, minibatch-stddev group 32, no path length regularization, no style mixing, fp32,
no conv clamp, no augmentation. Every `--every` kimg it saves 24,000 G_ema samples (fixed z, constant noise) as
uint8 NHWC; `modes` prints mode_counts and KL of each, as `mode_counts_24k` / `KL24k` compute them.
"""

import argparse
import copy
import os
import sys
import time


def export(args):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from stylegan2 import environment

    environment.configure(log_level="3")
    import numpy as np

    from stylegan2.dataset import ImageDataset
    from stylegan2.images import to_uint8

    dataset = ImageDataset(os.path.join(args.data_dir, args.dataset))
    images = to_uint8(np.concatenate([b for b, _, _ in dataset.iterate_numpy(batch_size=1000)]))  # the stored bytes
    np.save(args.out, np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    print(f"{args.out}: {images.shape[0]} images, NCHW uint8")


def train(args):
    if not os.path.isfile(os.path.join(args.nv_repo, "training", "networks.py")):
        sys.exit("--nv-repo: give a checkout of https://github.com/NVlabs/stylegan2-ada-pytorch")
    sys.path.insert(0, args.nv_repo)
    import numpy as np
    import torch
    from torch_utils import misc
    from training.loss import StyleGAN2Loss
    from training.networks import Discriminator, Generator

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    reals = torch.from_numpy(np.load(args.reals))
    _, channels, resolution, _ = reals.shape
    common = dict(c_dim=0, img_resolution=resolution, img_channels=channels)
    G = Generator(z_dim=128, w_dim=128, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=32768, channel_max=32, num_fp16_res=0, conv_clamp=None,
                                        architecture="skip"), **common).train().requires_grad_(False)
    D = Discriminator(architecture="orig", channel_base=32768, channel_max=32, num_fp16_res=0, conv_clamp=None,
                      epilogue_kwargs=dict(mbstd_group_size=32, mbstd_num_channels=1), **common).train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    loss = StyleGAN2Loss(device=torch.device("cpu"), G_mapping=G.mapping, G_synthesis=G.synthesis, D=D,
                         augment_pipe=None, style_mixing_prob=0.0, r1_gamma=args.gamma, pl_batch_shrink=2,
                         pl_decay=0.01, pl_weight=0.0)
    phases = []
    for name, module, interval in (("G", G, 4), ("D", D, 16)):
        ratio = interval / (interval + 1)
        opt = torch.optim.Adam(module.parameters(), lr=args.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]

    batch, nimg, step, next_save = args.batch, 0, 0, args.every * 1000
    order, cursor, start = torch.randperm(len(reals)), 0, time.time()
    eval_z = torch.randn([24000, G.z_dim], generator=torch.Generator().manual_seed(123))
    while nimg < args.kimg * 1000:
        if cursor + batch > len(reals):
            order, cursor = torch.randperm(len(reals)), 0
        real = reals[order[cursor:cursor + batch]].float() / 127.5 - 1
        cursor += batch
        zs = torch.randn([len(phases) * batch, G.z_dim]).split(batch)
        for (name, module, opt, interval), z in zip(phases, zs):
            if step % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(phase=name, real_img=real, real_c=torch.empty([batch, 0]), gen_z=z,
                                      gen_c=torch.empty([batch, 0]), sync=True, gain=interval)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    misc.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        ema_nimg = min(args.ema_kimg * 1000, nimg * args.ema_rampup) if args.ema_rampup > 0 else args.ema_kimg * 1000
        beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
        nimg += batch
        step += 1
        if nimg >= next_save:
            with torch.no_grad():
                fakes = torch.cat([G_ema(z, torch.empty([len(z), 0]), noise_mode="const") for z in eval_z.split(500)])
            samples = ((fakes + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            np.save(os.path.join(args.out, f"samples-{nimg / 1000:07.2f}.npy"), samples)
            print(f"kimg {nimg / 1000:.2f}  {time.time() - start:.0f} s  {nimg / (time.time() - start):.1f} img/s  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            next_save += args.every * 1000


def modes(args):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from stylegan2 import environment

    environment.configure(log_level="3")
    import numpy as np

    from stylegan2.metrics import arithmetic
    from stylegan2.metrics.digit_classifier import classify_stacked, load_classifier

    classifier = load_classifier(args.digit_classifier)
    for path in args.samples:
        preds = arithmetic.stacked_predictions(classify_stacked(classifier, np.load(path).astype(np.float32) / 127.5 - 1))
        print(f"{os.path.basename(path)}  mode_counts {arithmetic.mode_counts(preds, 1000)}  "
              f"KL {arithmetic.kl_to_uniform(preds, 1000):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("export", help="the dataset's images as one NCHW uint8 .npy (this project's environment)")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p = commands.add_parser("train", help="NVIDIA's networks and loss on the exported images (a PyTorch environment)")
    p.add_argument("--nv-repo", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    p.add_argument("--reals", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--gamma", type=float, default=0.01)
    p.add_argument("--lr", type=float, default=0.0025)
    p.add_argument("--ema-kimg", type=float, default=500.0)
    p.add_argument("--ema-rampup", type=float, default=0.05)
    p.add_argument("--kimg", type=float, default=57.6)
    p.add_argument("--every", type=float, default=9.6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("modes", help="mode counts of saved samples (this project's environment)")
    p.add_argument("--digit-classifier", required=True)
    p.add_argument("samples", nargs="+")
    args = parser.parse_args()
    {"export": export, "train": train, "modes": modes}[args.command](args)


if __name__ == "__main__":
    main()
