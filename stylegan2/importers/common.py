"""What both importers share: copying source arrays into this project's networks by weight path, and layout
conversions that are not a plain transpose."""

import numpy as np

from stylegan2 import presets
from stylegan2.networks import nf


class Unmappable(Exception):
    """A key, kwarg or value of the pickle that this project's networks cannot represent."""


class WeightTable:
    """The weights of one network by path without the model's name (`synthesis/b8.conv0/affine/weight`), filled
    from source arrays and then assigned all at once, so a network is either fully imported or not touched."""

    def __init__(self, model, what):
        self.what = what  # 'G', 'D' or 'G_ema'
        self.targets = {w.path.split("/", 1)[1]: w for w in model.weights}
        self.values = {}

    def set(self, key, target, value):
        """Sets weight `target` from the source array of `key` (already in this project's layout)."""
        if target not in self.targets:
            raise Unmappable(f"{self.what} {key}: this network has no weight {target}")
        value = np.asarray(value, dtype=np.float32)
        expected = tuple(self.targets[target].shape)
        if value.shape != expected:
            raise Unmappable(f"{self.what} {key}: shape {value.shape} does not fit {target} {expected} "
                             f"(the kwargs say otherwise)")
        if target in self.values:
            raise Unmappable(f"{self.what} {key}: a second value for {target}")
        if not np.isfinite(value).all():
            raise Unmappable(f"{self.what} {key}: holds NaN or infinite values")
        self.values[target] = value

    def assign(self):
        missing = [t for t in self.targets if t not in self.values]
        if missing:
            raise Unmappable(f"{self.what}: the pickle has no value for {missing[0]}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        for target, value in self.values.items():
            self.targets[target].assign(value)


def nchw_dense_to_nhwc(weight, height, width):
    """Rows of a dense weight [C*H*W, O] that reads NCHW-flattened activations (TF1 and ADA flatten NCHW), reordered
    for NHWC-flattened activations, as this project's discriminator flattens: row h*W*C + w*C + c."""
    rows, out = weight.shape
    channels = rows // (height * width)
    return weight.reshape(channels, height, width, out).transpose(1, 2, 0, 3).reshape(rows, out)


def channels(fmap_base, fmap_decay, fmap_min, fmap_max, resolution_log2):
    """nf(0), nf(1), ..., nf(log2 resolution - 1): every width a network of these kwargs has."""
    return [nf(stage, fmap_base, fmap_decay, fmap_min, fmap_max) for stage in range(resolution_log2)]


def matching_preset(G_kwargs, D_kwargs):
    """The first preset of stylegan2.presets whose networks have exactly these weights (same latent sizes, mapping
    depth, architectures and widths at every resolution), or None. Prefers equal fmap_base when several match
    (config-e and config-f build the same networks up to 32 px). ADA's label conditioning ('cmap' head, 'dense'
    embedding) is built by no preset."""
    if D_kwargs.get("head") == "cmap" or G_kwargs["mapping_kwargs"].get("label_embed", "concat") != "concat":
        return None
    res_log2 = int(np.log2(G_kwargs["img_resolution"]))
    G_syn, G_map = G_kwargs["synthesis_kwargs"], G_kwargs["mapping_kwargs"]

    def widths(kwargs):
        return channels(kwargs["fmap_base"], kwargs.get("fmap_decay", 1.0), kwargs.get("fmap_min", 1),
                        kwargs["fmap_max"], res_log2)

    matches = []
    for index, name in enumerate(presets.list_presets()):
        p = presets.get_preset(name)
        pG, pD = p["G_kwargs"], p["D_kwargs"]
        same = (pG["z_dim"] == G_kwargs["z_dim"] and pG["w_dim"] == G_kwargs["w_dim"]
                and pG["mapping_kwargs"]["num_layers"] == G_map["num_layers"]
                and pG["synthesis_kwargs"]["architecture"] == G_syn["architecture"]
                and pD["architecture"] == D_kwargs["architecture"]
                and widths(pG["synthesis_kwargs"]) == widths(G_syn) and widths(pD) == widths(D_kwargs))
        if same:
            matches.append((pG["synthesis_kwargs"]["fmap_base"] != G_syn["fmap_base"], index, name))
    return min(matches)[2] if matches else None
