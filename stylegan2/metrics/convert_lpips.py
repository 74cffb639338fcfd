"""Converts LPIPS VGG16 v0.1 weights from PyTorch files to the .npz that `feature_nets.LPIPS` loads.

    python -m stylegan2.metrics.convert_lpips vgg.pth vgg16-397923af.pth lpips_vgg16_v0.1.npz

Inputs: richzhang/PerceptualSimilarity `lpips/weights/v0.1/vgg.pth` (linear layers `lin{i}.model.1.weight`
[1,C,1,1]) and torchvision's `vgg16-397923af.pth` (convs `features.{i}.weight` [out,in,3,3]), the pair
`lpips.LPIPS(net='vgg', version='0.1')` uses. Output .npz: `conv1_1/kernel` ... `conv5_3/kernel` [3,3,in,out] (HWIO),
`conv*/bias` [out], `lin0` ... `lin4` [C], float32. Needs PyTorch only to read the .pth files; run it wherever torch
is installed and copy the .npz (into $STYLEGAN2_WEIGHTS_DIR or ~/.cache/stylegan2-family/).
"""

import argparse
import os
import sys
import tempfile

import numpy as np

from stylegan2.errors import UserError, exit_on_user_error
from stylegan2.flags import OneLineParser
from stylegan2.metrics.feature_nets import VGG16_CONVS

TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def convert(lin_state, vgg_state):
    """{name: array} state dicts (torch layouts) -> {npz key: float32 array}."""
    out = {}
    for name, index in zip(VGG16_CONVS, TORCHVISION_CONV_INDICES):
        try:
            weight, bias = vgg_state[f"features.{index}.weight"], vgg_state[f"features.{index}.bias"]
        except KeyError as err:
            raise UserError(f"VGG16 state dict has no {err.args[0]}; pass torchvision's vgg16-397923af.pth") from None
        out[f"{name}/kernel"] = np.transpose(np.asarray(weight, np.float32), (2, 3, 1, 0))
        out[f"{name}/bias"] = np.asarray(bias, np.float32)
    for i in range(5):
        keys = [f"lin{i}.model.1.weight", f"net.lin{i}.model.1.weight", f"lin{i}.model.0.weight"]
        found = [k for k in keys if k in lin_state]
        if not found:
            raise UserError(f"LPIPS state dict has no {keys[0]}; pass PerceptualSimilarity's weights/v0.1/vgg.pth")
        out[f"lin{i}"] = np.asarray(lin_state[found[0]], np.float32).reshape(-1)
    return out


def save_npz(arrays, path):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load_torch(path):
    try:
        import torch
    except ImportError:
        raise UserError(f"{path}: reading .pth files needs PyTorch (pip install torch); run this converter where "
                        f"torch is installed and copy the .npz") from None
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - torch raises many types for a wrong file
        raise UserError(f"{path}: cannot read as a PyTorch file ({err})") from None
    return {k: v.detach().cpu().numpy() for k, v in getattr(state, "state_dict", lambda: state)().items()}


@exit_on_user_error
def main(argv=None):
    parser = OneLineParser(prog="python -m stylegan2.metrics.convert_lpips",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("lin_pth", help="PerceptualSimilarity lpips/weights/v0.1/vgg.pth")
    parser.add_argument("vgg_pth", help="torchvision vgg16-397923af.pth")
    parser.add_argument("output", help="the .npz to write, e.g. lpips_vgg16_v0.1.npz")
    args = parser.parse_args(argv)
    save_npz(convert(_load_torch(args.lin_pth), _load_torch(args.vgg_pth)), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main(sys.argv[1:])
