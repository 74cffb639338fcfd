"""NVIDIA StyleGAN2 (TF1) and InclusiveGAN network pickles -> this project's Generator and Discriminator.

The pickle holds (G, D, Gs), each a `TF1Network` (see unpickler.py). The build kwargs are the networks' static
kwargs over the defaults of NVIDIA's build functions (NV:training/networks_stylegan2.py `G_main`, `G_mapping`,
`G_synthesis_stylegan2`, `D_stylegan2`; IG adds `init_mul` and `D_stylegan2_feature`); the variables are copied by
the table in `generator_target` / `discriminator_target`. Layouts and the reasons for each conversion: LAYOUT.md.
"""

import re

import numpy as np

from stylegan2.importers.common import Unmappable, WeightTable, nchw_dense_to_nhwc
from stylegan2.networks import Discriminator, Generator

# The defaults of NVIDIA's build functions (IG's where it differs), which absent static kwargs take.
G_MAIN_DEFAULTS = dict(truncation_psi=0.5, truncation_cutoff=None, truncation_psi_val=None, truncation_cutoff_val=None,
                       dlatent_avg_beta=0.995, style_mixing_prob=0.9, mapping_func="G_mapping",
                       synthesis_func="G_synthesis_stylegan2")
IG_G_MAIN_DEFAULTS = dict(G_MAIN_DEFAULTS, truncation_psi=0.6, init_mul=1.0)
MAPPING_DEFAULTS = dict(latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
                        mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True,
                        dtype="float32")
SYNTHESIS_DEFAULTS = dict(dlatent_size=512, num_channels=3, resolution=1024, fmap_base=16 << 10, fmap_decay=1.0,
                          fmap_min=1, fmap_max=512, randomize_noise=True, architecture="skip", nonlinearity="lrelu",
                          dtype="float32", resample_kernel=[1, 3, 3, 1], fused_modconv=True)
D_DEFAULTS = dict(num_channels=3, resolution=1024, label_size=0, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
                  fmap_max=512, architecture="resnet", nonlinearity="lrelu", mbstd_group_size=4, mbstd_num_features=1,
                  dtype="float32", resample_kernel=[1, 3, 3, 1])
D_FUNCS = {"D_stylegan2": dict(D_DEFAULTS), "D_stylegan2_feature": dict(D_DEFAULTS, mbstd_group_size=6)}  # IG: 6

UNSUPPORTED_FUNCS = {
    "G_style": "StyleGAN (2019) networks",
    "D_basic": "StyleGAN (2019) networks",
    "G_synthesis_stylegan_revised": "StyleGAN2 configs A-D (progressive growing)",
    "D_stylegan": "StyleGAN2 configs A-D (progressive growing)",
    "G_synthesis": "StyleGAN2-ADA (TensorFlow) networks",
    "D_main": "StyleGAN2-ADA (TensorFlow) networks",
}
RESAMPLE_KERNEL = [1, 3, 3, 1]


def _check_network(net, what, expected):
    if net.version not in (2, 3, 4):
        raise Unmappable(f"{what}: TF1 Network state version {net.version!r} (NVIDIA's are 2-4)")
    name = net.build_func_name
    if name in UNSUPPORTED_FUNCS:
        raise Unmappable(f"{what} is built by {name}: {UNSUPPORTED_FUNCS[name]} are not supported, only StyleGAN2 "
                         f"config-e/f (G_main, D_stylegan2)")
    if name not in expected:
        raise Unmappable(f"{what} is built by {name!r}; this importer knows {', '.join(expected)}")


def _kwargs(net, what, defaults, also_known=()):
    """The build kwargs: static kwargs over the defaults; an unknown static kwarg is unmappable."""
    for key, value in net.static_kwargs.items():
        if key not in defaults and key not in also_known:
            raise Unmappable(f"{what} kwarg {key}={value!r}: not an argument of NVIDIA's {net.build_func_name}")
    return {**defaults, **net.static_kwargs}


def _require(what, kwargs, key, supported):
    value = kwargs[key]
    if isinstance(value, (list, tuple)):
        value = list(value)
    if value != supported:
        raise Unmappable(f"{what} kwarg {key}={value!r}: only {supported!r} is supported")


def collect_variables(net, prefix=""):
    """{name: array} of a network and its components, component names as prefixes (`mapping/Dense0/weight`)."""
    params = {}
    for name, value in net.variables:
        # tflib.run returns a NumPy scalar for a 0-d variable (lod, noise_strength), an ndarray otherwise.
        if not isinstance(name, str) or not isinstance(value, (np.ndarray, np.generic)):
            raise Unmappable(f"{net.name} variable {name!r}: not a (name, array) pair")
        params[prefix + name] = np.asarray(value)
    for name, comp in net.components.items():
        params.update(collect_variables(comp, f"{prefix}{name}/"))
    return params


# === Generator ===


def generator_kwargs(G, what):
    """(Generator kwargs, G_main kwargs, ig_networks) of a TF1 G or Gs."""
    _check_network(G, what, ["G_main"])
    if set(G.components) != {"mapping", "synthesis"}:
        raise Unmappable(f"{what}: components {sorted(G.components)}, expected mapping and synthesis")
    mapping, synthesis = G.components["mapping"], G.components["synthesis"]
    _check_network(mapping, f"{what} mapping", ["G_mapping"])
    _check_network(synthesis, f"{what} synthesis", ["G_synthesis_stylegan2"])
    ig_networks = "init_mul" in G.static_kwargs  # IG's G_main always records it (IG run_training.py)
    main = _kwargs(G, what, IG_G_MAIN_DEFAULTS if ig_networks else G_MAIN_DEFAULTS,
                   also_known=set(MAPPING_DEFAULTS) | set(SYNTHESIS_DEFAULTS))
    for key, name in (("mapping_func", "G_mapping"), ("synthesis_func", "G_synthesis_stylegan2")):
        if main[key] != name:
            raise Unmappable(f"{what} kwarg {key}={main[key]!r}: only {name} is supported")
    ig = {"init_mul"} if ig_networks else set()
    m = _kwargs(mapping, f"{what} mapping", {**MAPPING_DEFAULTS, **({"init_mul": 1.0} if ig_networks else {})},
                also_known=set(SYNTHESIS_DEFAULTS) | set(G_MAIN_DEFAULTS) | ig)
    s = _kwargs(synthesis, f"{what} synthesis", {**SYNTHESIS_DEFAULTS, **({"init_mul": 1.0} if ig_networks else {})},
                also_known=set(MAPPING_DEFAULTS) | set(G_MAIN_DEFAULTS) | ig)
    _require(f"{what} mapping", m, "mapping_nonlinearity", "lrelu")
    _require(f"{what} mapping", m, "normalize_latents", True)
    if m["mapping_layers"] > 1:
        _require(f"{what} mapping", m, "mapping_fmaps", m["dlatent_size"])
    _require(f"{what} synthesis", s, "nonlinearity", "lrelu")
    _require(f"{what} synthesis", s, "resample_kernel", RESAMPLE_KERNEL)
    _require(f"{what} synthesis", s, "dlatent_size", m["dlatent_size"])
    init_mul = {"init_mul": float(main["init_mul"])} if ig_networks else {}
    beta = main["dlatent_avg_beta"]
    kwargs = dict(
        z_dim=m["latent_size"],
        # IG's G_mapping has LabelConcat commented out: its networks take no labels whatever label_size says.
        c_dim=0 if ig_networks else m["label_size"],
        w_dim=m["dlatent_size"],
        img_resolution=s["resolution"],
        img_channels=s["num_channels"],
        mapping_kwargs=dict(num_layers=m["mapping_layers"], lr_multiplier=float(m["mapping_lrmul"]), **init_mul),
        synthesis_kwargs=dict(architecture=s["architecture"], fmap_base=s["fmap_base"],
                              fmap_decay=float(s["fmap_decay"]), fmap_min=s["fmap_min"], fmap_max=s["fmap_max"],
                              **init_mul),
        w_avg_beta=1.0 if beta is None else float(beta),  # None: TF1 does not track w_avg; beta 1 never moves it
    )
    return kwargs, main, ig_networks


SYNTHESIS_LAYERS = {"Conv0_up": "conv0", "Conv1": "conv1", "ToRGB": "torgb"}
SYNTHESIS_FIELDS = {"weight": "weight", "mod_weight": "affine/weight", "mod_bias": "affine/bias",
                    "noise_strength": "noise_strength", "bias": "bias"}


def noise_layer(index):
    """The layer that reads TF1's `noise{index}`: layer_idx 0 is 4x4/Conv, then Conv0_up and Conv1 per resolution."""
    if index == 0:
        return "b4.conv1"
    return f"b{2 ** ((index + 5) // 2)}.conv{0 if index % 2 else 1}"


def generator_target(key, value):
    """(target weight path, array in this project's layout) of a TF1 G variable, or None to skip it."""
    if key == "dlatent_avg":
        return "mapping/w_avg", value
    if key == "lod":  # progressive-growing level of detail, always 0 in StyleGAN2; StyleGAN2's G_main ignores it
        return None
    if key == "mapping/LabelConcat/weight":  # [label_size, latent_size], used as c @ w (no gain)
        return "mapping/embed", value
    if m := re.fullmatch(r"mapping/Dense(\d+)/(weight|bias)", key):  # [in, out] (no transpose)
        return f"mapping/fc{int(m[1])}/{m[2]}", value
    if key == "synthesis/4x4/Const/const":  # [1, C, 4, 4] -> [4, 4, C]
        return "synthesis/b4.const/const", value[0].transpose(1, 2, 0)
    if m := re.fullmatch(r"synthesis/noise(\d+)", key):  # [1, 1, H, W] -> [H, W]
        return f"synthesis/{noise_layer(int(m[1]))}/noise_const", value[0, 0]
    if m := re.fullmatch(r"synthesis/(\d+)x\1/(Conv|Conv0_up|Conv1|ToRGB|Skip)/(\w+)", key):
        res, layer, field = int(m[1]), m[2], m[3]
        if layer == "Conv" and res == 4:
            layer = "Conv1"
        if layer == "Skip" and field == "weight":  # 1x1 [in, out]; conv2d_layer(up=True), TF1's kernel convention
            return f"synthesis/b{res}.skip/weight", value
        if layer in SYNTHESIS_LAYERS and field in SYNTHESIS_FIELDS:
            target = f"synthesis/b{res}.{SYNTHESIS_LAYERS[layer]}/{SYNTHESIS_FIELDS[field]}"
            # Weights [k, k, in, out] as ours (Conv0_up too: our up-sampling conv keeps TF1's kernel convention).
            # mod_bias: TF1 adds the +1 in the graph; our affine stores the effective bias.
            return target, value + 1 if field == "mod_bias" else value
    raise Unmappable(f"G {key}: no counterpart in this project's generator")


# === Discriminator ===


def discriminator_kwargs(D):
    """(Discriminator kwargs, ig_networks) of a TF1 D."""
    _check_network(D, "D", list(D_FUNCS))
    ig_networks = D.build_func_name == "D_stylegan2_feature"
    d = _kwargs(D, "D", D_FUNCS[D.build_func_name])
    _require("D", d, "nonlinearity", "lrelu")
    _require("D", d, "resample_kernel", RESAMPLE_KERNEL)
    # NV's output: dense(max(label_size, 1)) then sum(x * labels) (the 'projection' head). IG's D_stylegan2_feature:
    # dense(1), labels ignored.
    c_dim = 0 if ig_networks else d["label_size"]
    kwargs = dict(c_dim=c_dim, img_resolution=d["resolution"], img_channels=d["num_channels"],
                  architecture=d["architecture"], fmap_base=d["fmap_base"], fmap_decay=float(d["fmap_decay"]),
                  fmap_min=d["fmap_min"], fmap_max=d["fmap_max"], mbstd_group_size=d["mbstd_group_size"],
                  mbstd_num_channels=d["mbstd_num_features"], head="projection" if c_dim else "unconditional")
    return kwargs, ig_networks


D_LAYERS = {"FromRGB": "fromrgb", "Conv0": "conv0", "Conv1_down": "conv1", "Skip": "skip"}


def discriminator_target(key, value):
    """(target weight path, array in this project's layout) of a TF1 D variable."""
    if m := re.fullmatch(r"(\d+)x\1/(FromRGB|Conv0|Conv1_down|Skip|Conv)/(weight|bias)", key):
        res, layer, field = int(m[1]), m[2], m[3]
        if layer == "Conv" and res == 4:
            return f"b4.conv/{field}", value
        if layer in D_LAYERS and not (layer == "Skip" and field == "bias"):
            return f"b{res}.{D_LAYERS[layer]}/{field}", value  # [k, k, in, out], correlations as ours
    if key == "4x4/Dense0/weight":  # [C*4*4, out], rows in NCHW flattening order -> NHWC order
        return "b4.fc/weight", nchw_dense_to_nhwc(value, 4, 4)
    if key == "4x4/Dense0/bias":
        return "b4.fc/bias", value
    if m := re.fullmatch(r"Output/(weight|bias)", key):  # [C, max(label_size, 1)]
        return f"b4.out/{m[1]}", value
    raise Unmappable(f"D {key}: no counterpart in this project's discriminator")


# === Import ===


def fill(table, params, target_fn):
    for key, value in params.items():
        found = target_fn(key, value)
        if found is not None:
            table.set(key, *found)
    table.assign()


def import_tf1(G_net, D_net, Gs_net):
    """(G, D, G_ema, info) from the three TF1Networks of a StyleGAN2/InclusiveGAN pickle."""
    G_kwargs, main, ig_G = generator_kwargs(G_net, "G")
    Gs_kwargs, _, _ = generator_kwargs(Gs_net, "Gs")
    if Gs_kwargs != G_kwargs:
        raise Unmappable("Gs: its kwargs differ from G's; NVIDIA's Gs is a clone of G")
    D_kwargs, ig_D = discriminator_kwargs(D_net)

    G = Generator(name="generator", **G_kwargs)
    G_ema = Generator(name="generator", **G_kwargs)
    D = Discriminator(name="discriminator", **D_kwargs)
    for model in (G, G_ema, D):
        model.build()
    fill(WeightTable(G, "G"), collect_variables(G_net), generator_target)
    fill(WeightTable(G_ema, "Gs"), collect_variables(Gs_net), generator_target)
    fill(WeightTable(D, "D"), collect_variables(D_net), discriminator_target)

    ig_networks = ig_G or ig_D
    info = {
        "method": "stylegan2",  # the networks are StyleGAN2's (IG's init_mul only scales their initialisation)
        "format": "InclusiveGAN-tf1" if ig_networks else "stylegan2-tf1",
        "networks": f"{G_net.build_func_name}, {D_net.build_func_name}",
        # G_main's truncation defaults (a plain Gs.run truncates with them; NVIDIA 0.5, InclusiveGAN 0.6).
        "truncation_psi": main["truncation_psi"],
        "truncation_cutoff": main["truncation_cutoff"],
    }
    return G, D, G_ema, G_kwargs, D_kwargs, info
