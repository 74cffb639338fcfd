"""StyleGAN2-ADA (PyTorch) network pickles -> this project's Generator and Discriminator.

The pickle holds dict(G, D, G_ema, augment_pipe, training_set_kwargs); G, D and G_ema are trees of `ADAModule`s
(see unpickler.py) of ADA's training/networks.py classes. The kwargs come from the modules' own attributes (and
`channel_base`/`channel_max` from the constructor kwargs persistence records); every parameter and buffer is copied
by the table in `generator_target` / `discriminator_target`. Layouts and the reasons for each conversion: LAYOUT.md.
"""

import re

import numpy as np

from stylegan2.importers.common import Unmappable, WeightTable, nchw_dense_to_nhwc
from stylegan2.importers.unpickler import ADAModule
from stylegan2.networks import Discriminator, Generator
from stylegan2.ops import setup_filter

KNOWN_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
                 "FullyConnectedLayer", "Conv2dLayer", "Discriminator", "DiscriminatorBlock",
                 "DiscriminatorEpilogue", "MinibatchStdLayer"}
STYLEGAN3_CLASSES = {"SynthesisInput", "SynthesisLayer3"}
RESAMPLE_FILTER = setup_filter([1, 3, 3, 1])  # ADA's setup_filter([1,3,3,1]): the normalised 4x4 outer product


def _expect(module, class_name, what):
    if not isinstance(module, ADAModule):
        raise Unmappable(f"{what}: a {type(module).__name__}, not an ADA network module")
    if module.class_name != class_name:
        raise Unmappable(f"{what}: a {module.class_name}, expected ADA's {class_name}")
    return module


def _child(module, name, class_name, what):
    if name not in module.children:
        raise Unmappable(f"{what}.{name}: missing")
    return _expect(module.children[name], class_name, f"{what}.{name}")


def _int(module, name, what):
    value = module.attr(name)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise Unmappable(f"{what}.{name}={value!r}: expected an integer")
    return int(value)


def walk(module, what, prefix=""):
    """(dotted path, owning module, tensor name, array) of every parameter and buffer of a module tree."""
    if module.class_name not in KNOWN_CLASSES:
        hint = " (a StyleGAN3 network; only StyleGAN2 networks are supported)" if module.class_name in \
            STYLEGAN3_CLASSES else ""
        raise Unmappable(f"{what} {prefix.rstrip('.') or '(top)'}: a {module.class_name} module, which ADA's "
                         f"training/networks.py does not have{hint}")
    for name, value in module.tensors.items():
        if not isinstance(value, np.ndarray):
            raise Unmappable(f"{what} {prefix}{name}: not a tensor")
        yield prefix + name, module, name, value
    for name, child in module.children.items():
        if not isinstance(child, ADAModule):
            raise Unmappable(f"{what} {prefix}{name}: a {type(child).__name__}, not an ADA network module")
        yield from walk(child, what, f"{prefix}{name}.")


def _modules(module, class_names):
    """Every module of the tree (itself included) whose class is in class_names."""
    found = [module] if module.class_name in class_names else []
    for child in module.children.values():
        if isinstance(child, ADAModule):
            found += _modules(child, class_names)
    return found


def _one(values, what):
    """The single value every entry agrees on."""
    values = set(values)
    if len(values) != 1:
        raise Unmappable(f"{what}: differs between layers ({sorted(map(repr, values))}); this project uses one value")
    return values.pop()


def _check_activation(modules, expected, what):
    for m in modules:
        if m.attr("activation", expected) != expected:
            raise Unmappable(f"{what}: a {m.class_name} with activation {m.attr('activation')!r}; only {expected!r} "
                             f"is supported there")


def _channels(module):
    """(channel_base, channel_max) from the constructor kwargs persistence records, else ADA's defaults."""
    init = module.attr("_init_kwargs") or {}
    kwargs = (init.get("synthesis_kwargs") or {}) if module.class_name == "Generator" else init
    base, top = kwargs.get("channel_base", 32768), kwargs.get("channel_max", 512)
    # ADA: min(channel_base // res, channel_max) == TF1 nf(log2(res) - 1) with fmap_base = channel_base / 2.
    return (base // 2 if base % 2 == 0 else base / 2), top


def _mapping_kwargs(mapping, what):
    num_layers = _int(mapping, "num_layers", what)
    fcs = [_child(mapping, f"fc{i}", "FullyConnectedLayer", what) for i in range(num_layers)]
    _check_activation(fcs, "lrelu", what)
    lr = _one((float(fc.attr("bias_gain", 0.01)) for fc in fcs), f"{what} lr_multiplier")
    return dict(num_layers=num_layers, lr_multiplier=lr)


# === Generator ===


def generator_kwargs(G, what):
    """Generator kwargs of an ADA Generator module."""
    _expect(G, "Generator", what)
    mapping = _child(G, "mapping", "MappingNetwork", what)
    synthesis = _child(G, "synthesis", "SynthesisNetwork", what)
    dims = {name: _int(G, name, what) for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")}
    layers = _modules(synthesis, {"SynthesisLayer", "ToRGBLayer"})
    _check_activation([m for m in layers if m.class_name == "SynthesisLayer"], "lrelu", f"{what}.synthesis")
    blocks = _modules(synthesis, {"SynthesisBlock"})
    fmap_base, fmap_max = _channels(G)
    beta = mapping.attr("w_avg_beta")
    return dict(
        **dims,
        mapping_kwargs=dict(_mapping_kwargs(mapping, f"{what}.mapping"),
                            **({"label_embed": "dense"} if dims["c_dim"] else {})),
        synthesis_kwargs=dict(architecture=_one((b.attr("architecture") for b in blocks), f"{what} architecture"),
                              fmap_base=fmap_base, fmap_max=fmap_max,
                              conv_clamp=_one((m.attr("conv_clamp") for m in layers), f"{what} conv_clamp")),
        w_avg_beta=1.0 if beta is None else float(beta),  # None: ADA does not track w_avg; beta 1 never moves it
    )


def _conv_weight(module, value):
    """[out, in, kh, kw] -> [kh, kw, in, out]. ADA runs its up-sampling convs as true convolutions (flip_weight =
    (up == 1)), this project as TF1's correlations: the kernel is flipped for them (ADA legacy.py flips the
    other way)."""
    weight = value.transpose(2, 3, 1, 0)
    return weight[::-1, ::-1] if module.attr("up", 1) > 1 else weight


def _check_filter(path, value):
    if value.shape != RESAMPLE_FILTER.shape or not np.allclose(value, RESAMPLE_FILTER, atol=1e-7):
        raise Unmappable(f"{path}: a resample filter other than [1,3,3,1]; only NVIDIA's filter is supported")


def _layer_target(prefix, module, name, value):
    """Targets of a SynthesisLayer/ToRGBLayer/Conv2dLayer/FullyConnectedLayer tensor, under `prefix`."""
    if module.class_name == "FullyConnectedLayer":
        return f"{prefix}/{name}", value.T if name == "weight" else value  # [out, in] -> [in, out]
    if name == "weight":
        return f"{prefix}/weight", _conv_weight(module, value)
    if name in ("bias", "noise_strength", "noise_const"):  # noise_const [res, res] as ours
        return f"{prefix}/{name}", value
    return None


def generator_target(path, module, name, value):
    """(target weight path, array in this project's layout) of an ADA G tensor, or None to skip it."""
    if name == "resample_filter":
        _check_filter(path, value)
        return None
    if path == "mapping.w_avg":
        return "mapping/w_avg", value
    if m := re.fullmatch(r"mapping\.(embed|fc\d+)\.(weight|bias)", path):
        return _layer_target(f"mapping/{m[1]}", module, name, value)
    if path == "synthesis.b4.const":  # [C, 4, 4] -> [4, 4, C]
        return "synthesis/b4.const/const", value.transpose(1, 2, 0)
    if m := re.fullmatch(r"synthesis\.b(\d+)\.(conv0|conv1|torgb|skip)\.(affine\.)?(\w+)", path):
        prefix = f"synthesis/b{m[1]}.{m[2]}" + ("/affine" if m[3] else "")
        found = _layer_target(prefix, module, name, value)
        if found:
            return found
    raise Unmappable(f"G {path}: no counterpart in this project's generator")


def noise_free_layers(G):
    """Targets that a SynthesisLayer built with use_noise=False lacks: zero noise is exactly no noise."""
    for block_name, block in G.children["synthesis"].children.items():
        for name in ("conv0", "conv1"):
            layer = block.children.get(name)
            if layer is not None and not layer.attr("use_noise", True):
                res = layer.attr("resolution")
                yield f"synthesis.{block_name}.{name}", f"synthesis/{block_name}.{name}", res


# === Discriminator ===


def discriminator_kwargs(D):
    """Discriminator kwargs of an ADA Discriminator module."""
    _expect(D, "Discriminator", "D")
    dims = {name: _int(D, name, "D") for name in ("c_dim", "img_resolution", "img_channels")}
    epilogue = _child(D, "b4", "DiscriminatorEpilogue", "D")
    convs = [m for m in _modules(D, {"Conv2dLayer"}) if m is not epilogue.children.get("fromrgb")]
    clamped = [m for m in convs if "bias" in m.tensors]  # all but the skips (bias=False), which ADA never clamps
    _check_activation(clamped, "lrelu", "D")
    mbstd = epilogue.children.get("mbstd")
    group_size, num_channels = 0, 1  # no MinibatchStdLayer: ADA's mbstd_num_channels=0
    if mbstd is not None:
        _expect(mbstd, "MinibatchStdLayer", "D.b4.mbstd")
        group_size, num_channels = mbstd.attr("group_size"), _int(mbstd, "num_channels", "D.b4.mbstd")
        if not isinstance(group_size, int) or group_size < 2:
            raise Unmappable(f"D b4.mbstd group_size={group_size!r}: this project's minibatch std needs a group "
                             f"of 2 or more")
    fmap_base, fmap_max = _channels(D)
    kwargs = dict(**dims, architecture=_one((b.attr("architecture") for b in _modules(
                      D, {"DiscriminatorBlock", "DiscriminatorEpilogue"})), "D architecture"),
                  fmap_base=fmap_base, fmap_max=fmap_max, mbstd_group_size=group_size,
                  mbstd_num_channels=num_channels,
                  conv_clamp=_one((m.attr("conv_clamp") for m in clamped), "D conv_clamp"),
                  head="unconditional")
    if dims["c_dim"]:
        mapping = _child(D, "mapping", "MappingNetwork", "D")
        kwargs.update(head="cmap", cmap_dim=_int(epilogue, "cmap_dim", "D.b4"),
                      mapping_kwargs=_mapping_kwargs(mapping, "D.mapping"))
    return kwargs


def discriminator_target(path, module, name, value):
    """(target weight path, array in this project's layout) of an ADA D tensor, or None to skip it."""
    if name == "resample_filter":
        _check_filter(path, value)
        return None
    if path == "b4.fc.weight":  # [out, C*4*4], NCHW flattening order -> [C*4*4, out] in NHWC order
        return "b4.fc/weight", nchw_dense_to_nhwc(value.T, 4, 4)
    if m := re.fullmatch(r"(b\d+\.(?:fromrgb|conv0|conv1|skip)|b4\.(?:conv|fc|out)|mapping\.(?:embed|fc\d+))\.(\w+)",
                         path):
        found = _layer_target(m[1].replace("mapping.", "mapping/"), module, name, value)
        if found:
            return found
    raise Unmappable(f"D {path}: no counterpart in this project's discriminator")


# === Import ===


def fill(table, module, what, target_fn):
    for path, owner, name, value in walk(module, what):
        found = target_fn(path, owner, name, value)
        if found is not None:
            table.set(path, *found)


def import_ada(data):
    """(G, D, G_ema, G kwargs, D kwargs, info) from the dict of an ADA network pickle."""
    for key in ("G", "D", "G_ema"):
        if not isinstance(data.get(key), ADAModule):
            raise Unmappable(f"{key}: missing (an ADA network pickle holds G, D and G_ema)")
    G_kwargs = generator_kwargs(data["G"], "G")
    if generator_kwargs(data["G_ema"], "G_ema") != G_kwargs:
        raise Unmappable("G_ema: its configuration differs from G's; ADA's G_ema is a copy of G")
    D_kwargs = discriminator_kwargs(data["D"])

    G = Generator(name="generator", **G_kwargs)
    G_ema = Generator(name="generator", **G_kwargs)
    D = Discriminator(name="discriminator", **D_kwargs)
    for model, key, target_fn in ((G, "G", generator_target), (G_ema, "G_ema", generator_target),
                                  (D, "D", discriminator_target)):
        model.build()
        table = WeightTable(model, key)
        fill(table, data[key], key, target_fn)
        if key != "D":
            for source, target, res in noise_free_layers(data[key]):
                table.set(f"{source} (use_noise=False)", f"{target}/noise_strength", np.zeros([]))
                table.set(f"{source} (use_noise=False)", f"{target}/noise_const", np.zeros([res, res]))
            if "mapping/w_avg" not in table.values and data[key].children["mapping"].attr("w_avg_beta") is None:
                table.set("mapping (w_avg_beta=None)", "mapping/w_avg", np.zeros([G_kwargs["w_dim"]]))
        table.assign()

    fp16 = [m.attr("resolution") for m in _modules(data["G_ema"], {"SynthesisBlock"}) if m.attr("use_fp16")]
    info = {
        "method": "stylegan2",
        "format": "stylegan2-ada-pytorch",
        "networks": f"{data['G'].class_name}, {data['D'].class_name}",
        # ADA runs these resolutions in float16 (num_fp16_res) unless called with force_fp32=True; this project
        # computes every layer in float32, as ADA with force_fp32=True does.
        "fp16_resolutions": sorted(fp16),
    }
    return G, D, G_ema, G_kwargs, D_kwargs, info
