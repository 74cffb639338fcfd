#!/usr/bin/env python3
"""The same benchmark as bench_stylegan2.py, run on NVIDIA's own PyTorch StyleGAN2 (NVlabs/stylegan2-ada-pytorch).

This is the baseline the README compares with: NVIDIA's `training/networks.py` and `training/loss.py`, unmodified,
driven exactly as ADA's `training/training_loop.py` drives them for one device (phases Gmain, Greg every 4th, Dmain,
Dreg every 16th; Adam with the lazy-regularization corrections; nan_to_num of the gradients; G_ema update), on the
`bench32` network (32x32x3, 128 channels everywhere, mapping 8x512, G skip, D resnet, mbstd group 4, fp32, no
conv clamp, no augmentation), batch 32; generation is G_ema(z) in eval mode, batch 64, no truncation. On the CPU,
NVIDIA's bias_act/upfirdn2d take their reference implementations (their CUDA plugins are CUDA-only).

NVIDIA's code is not part of this repository. In a separate environment:

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy requests
    /tmp/torchvenv/bin/python bench/bench_nvidia_pytorch.py --nv-repo /tmp/stylegan2-ada-pytorch

It prints the parameter counts (they must equal bench32's: G 3,860,243, D 1,346,305), training img/s and
ms/iteration, per-phase medians, generation img/s and peak memory. Measure on an idle machine.
"""

import argparse
import copy
import os
import resource
import statistics
import sys
import time


def _nv_repo_from_argv():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--nv-repo", default=os.environ.get("NV_STYLEGAN2_ADA_PYTORCH"))
    repo = parser.parse_known_args()[0].nv_repo
    if not repo or not os.path.isfile(os.path.join(repo, "training", "networks.py")):
        sys.exit("--nv-repo: give a checkout of https://github.com/NVlabs/stylegan2-ada-pytorch "
                 "(the directory holding training/networks.py)")
    return repo


sys.path.insert(0, _nv_repo_from_argv())

import dnnlib  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_utils import misc  # noqa: E402
from torch_utils.ops import conv2d_gradfix, grid_sample_gradfix  # noqa: E402
from training.loss import StyleGAN2Loss  # noqa: E402
from training.networks import Discriminator, Generator  # noqa: E402

BATCH = 32          # batch_size == batch_gpu (one device, one accumulation round)
G_REG_INTERVAL = 4
D_REG_INTERVAL = 16
LR = 0.002
BETAS = [0, 0.99]
EPS = 1e-8
EMA_KIMG = 10       # ema_rampup = None
GEN_BATCH = 64


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def build(device):
    G_kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=32, img_channels=3,
                    mapping_kwargs=dict(num_layers=8),
                    synthesis_kwargs=dict(channel_base=32768, channel_max=128, num_fp16_res=0,
                                          conv_clamp=None, architecture='skip'))
    D_kwargs = dict(c_dim=0, img_resolution=32, img_channels=3, architecture='resnet',
                    channel_base=32768, channel_max=128, num_fp16_res=0, conv_clamp=None,
                    epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=1))
    # As in training_loop.py: .train().requires_grad_(False).to(device); G_ema = deepcopy(G).eval()
    G = Generator(**G_kwargs).train().requires_grad_(False).to(device)
    D = Discriminator(**D_kwargs).train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    return G, D, G_ema


def make_phases(G, D):
    # Copied from training_loop.py ("Setup training phases", lazy regularization branch).
    phases = []
    G_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=LR, betas=BETAS, eps=EPS)
    D_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=LR, betas=BETAS, eps=EPS)
    for name, module, opt_kwargs, reg_interval in [('G', G, G_opt_kwargs, G_REG_INTERVAL),
                                                   ('D', D, D_opt_kwargs, D_REG_INTERVAL)]:
        mb_ratio = reg_interval / (reg_interval + 1)
        opt_kwargs = dnnlib.EasyDict(opt_kwargs)
        opt_kwargs.lr = opt_kwargs.lr * mb_ratio
        opt_kwargs.betas = [beta ** mb_ratio for beta in opt_kwargs.betas]
        opt = dnnlib.util.construct_class_by_name(module.parameters(), **opt_kwargs)
        phases += [dnnlib.EasyDict(name=name+'main', module=module, opt=opt, interval=1)]
        phases += [dnnlib.EasyDict(name=name+'reg', module=module, opt=opt, interval=reg_interval)]
    return phases


def run_phase(loss, phase, real_img, real_c, gen_z, gen_c):
    # Body of the per-phase loop in training_loop.py (single round: batch_gpu == batch_size).
    phase.opt.zero_grad(set_to_none=True)
    phase.module.requires_grad_(True)
    sync = True   # round_idx == batch_size // (batch_gpu * num_gpus) - 1 == 0
    gain = phase.interval
    loss.accumulate_gradients(phase=phase.name, real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c, sync=sync, gain=gain)
    phase.module.requires_grad_(False)
    for param in phase.module.parameters():
        if param.grad is not None:
            misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
    phase.opt.step()


def ema_update(G, G_ema, cur_nimg):
    # "Update G_ema" block of training_loop.py with ema_rampup=None.
    # (as in the loop, no torch.no_grad(): G and G_ema have requires_grad=False here)
    ema_nimg = EMA_KIMG * 1000
    ema_beta = 0.5 ** (BATCH / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.lerp(p_ema, ema_beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


class Trainer:
    def __init__(self, G, D, G_ema, device):
        self.G, self.D, self.G_ema, self.device = G, D, G_ema, device
        self.loss = StyleGAN2Loss(device=device, G_mapping=G.mapping, G_synthesis=G.synthesis, D=D,
                                  augment_pipe=None, style_mixing_prob=0.9, r1_gamma=10,
                                  pl_batch_shrink=2, pl_decay=0.01, pl_weight=2)
        self.phases = make_phases(G, D)
        g = torch.Generator().manual_seed(123)
        # Fixed "real" batch in [-1, 1] (data loading is not timed).
        self.real_img = (torch.rand([BATCH, 3, 32, 32], generator=g) * 2 - 1).to(device)
        self.real_c = torch.empty([BATCH, G.c_dim], device=device)
        self.batch_idx = 0
        self.cur_nimg = 0

    def step(self, phase_times=None):
        G = self.G
        # Per-iteration latents as in "Fetch training data" (one gen_z/gen_c per phase).
        all_gen_z = torch.randn([len(self.phases) * BATCH, G.z_dim], device=self.device).split(BATCH)
        all_gen_c = torch.empty([len(self.phases) * BATCH, G.c_dim], device=self.device).split(BATCH)
        for phase, gen_z, gen_c in zip(self.phases, all_gen_z, all_gen_c):
            if self.batch_idx % phase.interval != 0:
                continue
            t0 = time.perf_counter()
            run_phase(self.loss, phase, self.real_img, self.real_c, gen_z, gen_c)
            if phase_times is not None:
                phase_times.setdefault(phase.name, []).append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ema_update(G, self.G_ema, self.cur_nimg)
        if phase_times is not None:
            phase_times.setdefault('ema', []).append(time.perf_counter() - t0)
        self.cur_nimg += BATCH
        self.batch_idx += 1


def fmt_ms(xs):
    return f'{statistics.median(xs) * 1e3:.1f}' if xs else 'n/a'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--nv-repo', help='Checkout of NVlabs/stylegan2-ada-pytorch (or $NV_STYLEGAN2_ADA_PYTORCH)')
    ap.add_argument('--warmup', type=int, default=16)
    ap.add_argument('--iters', type=int, default=32)
    ap.add_argument('--gen-reps', type=int, default=10)
    ap.add_argument('--phase-reps', type=int, default=5, help='repetitions per phase for the separate per-phase timing')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-train', action='store_true')
    ap.add_argument('--train-only', action='store_true')
    args = ap.parse_args()
    assert args.iters % 16 == 0 and args.iters > 0, '--iters must be a positive multiple of 16'
    assert args.warmup % 16 == 0, '--warmup must be a multiple of 16 (keeps the Greg/Dreg schedule aligned)'

    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    conv2d_gradfix.enabled = True       # as training_loop.py; no-op on CPU (custom op is CUDA-only)
    grid_sample_gradfix.enabled = True  # as training_loop.py; unused without augmentation
    device = torch.device('cpu')

    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'mkldnn available {torch.backends.mkldnn.is_available()}, python {sys.version.split()[0]}')
    print('load average before: %.2f %.2f %.2f' % os.getloadavg())

    G, D, G_ema = build(device)
    print(f'params: G {nparams(G):,} (mapping {nparams(G.mapping):,}, synthesis {nparams(G.synthesis):,}), D {nparams(D):,}')
    print('        expected G 3,860,243 (mapping 2,101,248), D 1,346,305')

    # Cheap correctness checks.
    with torch.no_grad():
        z = torch.randn([4, G.z_dim])
        c = torch.empty([4, 0])
        img = G_ema(z, c, truncation_psi=1, noise_mode='const')
        logits = D(img, c)
    assert list(img.shape) == [4, 3, 32, 32], img.shape
    assert list(logits.shape) == [4, 1], logits.shape
    assert torch.isfinite(img).all() and torch.isfinite(logits).all()
    print(f'check: G(z) shape {list(img.shape)}, D(img) shape {list(logits.shape)}, finite')

    if not args.no_train:
        tr = Trainer(G, D, G_ema, device)
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            tr.step()
        t_warm = time.perf_counter() - t0
        print(f'warmup: {args.warmup} iterations in {t_warm:.1f} s')

        inloop = {}
        iter_ts = []
        t0 = time.perf_counter()
        for _ in range(args.iters):
            ti = time.perf_counter()
            tr.step(inloop)
            iter_ts.append(time.perf_counter() - ti)
        dt = time.perf_counter() - t0
        print(f'training: {args.iters * BATCH / dt:.2f} img/s, {dt / args.iters * 1e3:.1f} ms/iteration '
              f'({args.iters} iterations, batch {BATCH}, {dt:.1f} s)')
        print('  in-loop phase medians (ms): ' + ', '.join(f'{k} {fmt_ms(v)} (n={len(v)})' for k, v in inloop.items()))
        print('  in-loop phase max (ms): ' + ', '.join(f'{k} {max(v) * 1e3:.1f}' for k, v in inloop.items()))
        print(f'  per-iteration ms: median {fmt_ms(iter_ts)}, min {min(iter_ts) * 1e3:.1f}, max {max(iter_ts) * 1e3:.1f} '
              f'(mean over a 16-iteration cycle is what the img/s line reports)')

        # Sanity: parameters finite, pl_mean finite, a fresh loss value finite.
        assert all(torch.isfinite(p).all() for p in G.parameters()), 'G params not finite'
        assert all(torch.isfinite(p).all() for p in D.parameters()), 'D params not finite'
        assert torch.isfinite(tr.loss.pl_mean), 'pl_mean not finite'
        with torch.no_grad():
            zz = torch.randn([BATCH, G.z_dim])
            cc = torch.empty([BATCH, 0])
            gl = D(G(zz, cc), cc)
            rl = D(tr.real_img, cc)
            lossG = torch.nn.functional.softplus(-gl).mean()
            lossD = (torch.nn.functional.softplus(gl) + torch.nn.functional.softplus(-rl)).mean()
        assert torch.isfinite(lossG) and torch.isfinite(lossD)
        print(f'check: after training, loss_G {lossG.item():.4f}, loss_D {lossD.item():.4f}, '
              f'pl_mean {tr.loss.pl_mean.item():.4f}, all finite')

        # Per-phase timing, measured separately (each phase run alone, --phase-reps times).
        sep = {}
        for phase in tr.phases:
            for _ in range(args.phase_reps):
                gen_z = torch.randn([BATCH, G.z_dim])
                gen_c = torch.empty([BATCH, 0])
                t0 = time.perf_counter()
                run_phase(tr.loss, phase, tr.real_img, tr.real_c, gen_z, gen_c)
                sep.setdefault(phase.name, []).append(time.perf_counter() - t0)
        for _ in range(args.phase_reps):
            t0 = time.perf_counter()
            ema_update(G, G_ema, tr.cur_nimg)
            sep.setdefault('ema', []).append(time.perf_counter() - t0)
        print('per-phase median ms (separate, n=%d): ' % args.phase_reps +
              ', '.join(f'{k} {fmt_ms(sep[k])}' for k in ['Gmain', 'Greg', 'Dmain', 'Dreg', 'ema']))
        est = (statistics.median(sep['Gmain']) + statistics.median(sep['Dmain'])
               + statistics.median(sep['Greg']) / G_REG_INTERVAL + statistics.median(sep['Dreg']) / D_REG_INTERVAL
               + statistics.median(sep['ema']))
        print(f'  implied ms/iteration from separate medians: {est * 1e3:.1f}')

    if not args.train_only:
        G_ema.eval()
        for noise_mode, reps in [('random', args.gen_reps), ('const', args.gen_reps)]:
            with torch.no_grad():
                for _ in range(3):
                    z = torch.randn([GEN_BATCH, G_ema.z_dim])
                    c = torch.empty([GEN_BATCH, 0])
                    G_ema(z, c, truncation_psi=1, noise_mode=noise_mode)
                ts = []
                for _ in range(reps):
                    z = torch.randn([GEN_BATCH, G_ema.z_dim])
                    c = torch.empty([GEN_BATCH, 0])
                    t0 = time.perf_counter()
                    img = G_ema(z, c, truncation_psi=1, noise_mode=noise_mode)
                    ts.append(time.perf_counter() - t0)
            assert list(img.shape) == [GEN_BATCH, 3, 32, 32] and torch.isfinite(img).all()
            tot = sum(ts)
            label = 'generation' if noise_mode == 'random' else 'generation (noise_mode=const)'
            print(f'{label}: {reps * GEN_BATCH / tot:.1f} img/s ({tot / reps * 1e3:.1f} ms per batch of {GEN_BATCH}, '
                  f'median {statistics.median(ts) * 1e3:.1f} ms, {reps} batches, noise_mode={noise_mode})')

    print(f'peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB')
    print('load average after: %.2f %.2f %.2f' % os.getloadavg())


if __name__ == '__main__':
    main()
