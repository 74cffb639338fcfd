"""`python convert_network.py in.pkl out.keras`: import an NVIDIA StyleGAN2 / InclusiveGAN / StyleGAN2-ADA network
pickle once and write it as a `.keras` network snapshot (G, D, G_ema), which every command then loads directly."""

import argparse
import os
import sys

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser


def build_parser():
    parser = OneLineParser(
        prog="convert_network.py",
        description="Import an NVIDIA StyleGAN2 / InclusiveGAN / StyleGAN2-ADA network pickle once and write it as a "
                    ".keras network snapshot (G, D, G_ema), which every command then loads directly.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example: python convert_network.py stylegan2-ffhq-config-f.pkl ffhq-config-f.keras\n"
               "The pickle is read without running any code from it; see README 'Importing pretrained networks'.")
    parser.add_argument("source", help="Network pickle: NVIDIA StyleGAN2 TF1, InclusiveGAN, or StyleGAN2-ADA PyTorch")
    parser.add_argument("dest", help="Output network snapshot (.keras)")
    return parser


def convert(source, dest):
    """Imports `source` and writes it to `dest` atomically; returns the NetworkSnapshot."""
    from stylegan2.importers import import_network_pickle
    from stylegan2.training.snapshot import save_keras_atomic

    if not dest.endswith(".keras"):
        raise UserError(f"{dest}: the output must be a .keras file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        raise UserError(f"{dest}: its folder does not exist")
    snap = import_network_pickle(source)
    save_keras_atomic(snap, dest)
    return snap


def describe(snap):
    """Lines describing an imported snapshot: networks, parameter counts, method, matching preset."""
    def params(model):
        return sum(int(w.numpy().size) for w in model.trainable_weights)

    G, D = snap.G_ema, snap.D
    meta = snap.metadata
    return [f"{meta['source']['format']} ({meta['source']['networks']}): {G.img_resolution}x{G.img_resolution}x"
            f"{G.img_channels}, z_dim {G.z_dim}, c_dim {G.c_dim}, {G.synthesis.architecture} G, {D.architecture} D",
            f"parameters: G {params(G):,} (mapping {params(G.mapping):,}, synthesis {params(G.synthesis):,}), "
            f"D {params(D):,}",
            f"method {meta['method']}, config {meta['config'] or '(no preset builds these networks)'}"]


@exit_on_user_error
def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    print(f'Importing "{args.source}"...', flush=True)
    snap = convert(args.source, args.dest)
    for line in describe(snap):
        print(line)
    print(f'Wrote "{args.dest}"')
    return snap
