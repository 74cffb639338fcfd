"""Writers of network pickles in the originals' exact layout, for tests (NVIDIA's code cannot run here).

Stand-in classes and functions carry the originals' `__module__`/`__qualname__` and live in fake modules inserted
into `sys.modules` only while dumping, so the byte stream names exactly the globals NVIDIA's files name:
- TF1 (NVlabs/stylegan2 `training/misc.py save_pkl`): `pickle.dump((G, D, Gs), f, protocol=4)` of
  `dnnlib.tflib.network.Network` objects whose state is `Network.__getstate__`'s dict; arrays as NumPy 1.x pickled
  them (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`; `numpy_names='numpy2'` gives
  NumPy >= 2's own `numpy._core` names and protocol 5 `_frombuffer`).
- ADA (NVlabs/stylegan2-ada-pytorch `training/training_loop.py`): `pickle.dump(dict(G, D, G_ema, augment_pipe,
  training_set_kwargs), f)` (protocol 4) of `torch_utils.persistence` objects (`_reconstruct_persistent_obj(meta)`,
  meta = type, version 6, module_src, class_name, state = the module's `__dict__` as torch 1.7 keeps it), tensors as
  `torch._utils._rebuild_parameter(_rebuild_tensor_v2(storage, ...))`, storages as `torch.storage._load_from_bytes`
  of a legacy `torch.save` stream written here byte for byte (`torch/serialization.py _legacy_save`).
`tf1_params` / `ada_params` draw every variable of a network with the originals' names and shapes.
"""

import collections
import contextlib
import io
import pickle
import sys
import types

import numpy as np

BUILD_MODULE_SRC = "raise RuntimeError('NVIDIA network source: an importer must never run this')\n"


@contextlib.contextmanager
def fake_modules(modules):
    """Temporarily puts modules {dotted name: {attribute: object}} into sys.modules (restoring what was there)."""
    # Parent packages too: pickle imports a global's module with __import__, which imports its parents first.
    parents = {name.rsplit(".", i)[0] for name in modules for i in range(1, name.count(".") + 1)}
    modules = {**{p: {} for p in parents if p not in sys.modules and p not in modules}, **modules}
    saved = {name: sys.modules.get(name) for name in modules}
    try:
        for name, attrs in modules.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            for obj in attrs.values():
                if isinstance(obj, (type, types.FunctionType)):
                    obj.__module__ = name
            sys.modules[name] = module
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _named(fn, name):
    fn.__name__ = fn.__qualname__ = name
    return fn


# === NumPy 1.x array pickles ===


def _np1_reconstruct(*args):
    raise AssertionError("a writer stand-in; never called")


def _np1_scalar(*args):
    raise AssertionError("a writer stand-in; never called")


_np1_reconstruct = _named(_np1_reconstruct, "_reconstruct")
_np1_scalar = _named(_np1_scalar, "scalar")


class _NumPy1Pickler(pickle.Pickler):
    """Pickles arrays and scalars as NumPy 1.x's ndarray.__reduce__ does."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            data = np.ascontiguousarray(obj)
            return _np1_reconstruct, (np.ndarray, (0,), b"b"), (1, obj.shape, obj.dtype, False, data.tobytes())
        if isinstance(obj, np.generic):
            return _np1_scalar, (obj.dtype, obj.tobytes())
        return NotImplemented


def dump_numpy1(obj, modules, protocol=4):
    """Pickle bytes of obj with NumPy 1.x names, the fake modules `modules` in place."""
    buf = io.BytesIO()
    with fake_modules({"numpy.core.multiarray": {"_reconstruct": _np1_reconstruct, "scalar": _np1_scalar},
                       **modules}):
        _NumPy1Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


# === TF1 ===


class Network:
    """dnnlib.tflib.network.Network as it pickles: `__getstate__` returns NVIDIA's state dict."""

    def __init__(self, name, build_func_name, static_kwargs, variables, components=None, version=4):
        self._state = dict(version=version, name=name, static_kwargs=dict(static_kwargs),
                           components=dict(components or {}), build_module_src=BUILD_MODULE_SRC,
                           build_func_name=build_func_name, variables=list(variables.items()))

    def __getstate__(self):
        return self._state


def tf1_networks(G_params, D_params, Gs_params, G_kwargs, D_kwargs, D_func="D_stylegan2"):
    """(G, D, Gs) Network objects: G_main with mapping and synthesis components (their variables split by the
    `mapping/` and `synthesis/` prefixes, G_main's own dlatent_avg and lod), D."""
    def generator(name, params):
        own = {k: v for k, v in params.items() if "/" not in k}
        comps = {c: Network(f"G_{c}", "G_mapping" if c == "mapping" else "G_synthesis_stylegan2",
                            dict(G_kwargs, **({"dlatent_broadcast": 2 * int(np.log2(G_kwargs["resolution"])) - 2}
                                              if c == "mapping" else {})),
                            {k[len(c) + 1:]: v for k, v in params.items() if k.startswith(c + "/")})
                 for c in ("synthesis", "mapping")}
        return Network(name, "G_main", G_kwargs, own, comps)

    return generator("G", G_params), Network("D", D_func, D_kwargs, D_params), generator("Gs", Gs_params)


def dump_tf1(networks, numpy_names="numpy1", protocol=None):
    """NVIDIA's save_pkl of (G, D, Gs): protocol 4 (HIGHEST_PROTOCOL on Python 3.6/3.7) and NumPy 1.x names;
    'numpy2': NumPy >= 2's own names, protocol 5 (HIGHEST_PROTOCOL on Python >= 3.8) unless given."""
    modules = {"dnnlib.tflib.network": {"Network": Network}}
    if numpy_names == "numpy1":
        return dump_numpy1(networks, modules, protocol or 4)
    buf = io.BytesIO()
    with fake_modules(modules):
        pickle.dump(networks, buf, protocol=protocol or 5)
    return buf.getvalue()


def tf1_params(rng, resolution=8, channels=3, fmap_base=32, fmap_max=8, latent=8, mapping_layers=2, label_size=0,
               G_arch="skip", D_arch="resnet", mbstd=True, ig=False):
    """(G variables, D variables) with NVIDIA's names and shapes ([k,k,in,out], [1,C,4,4], [1,1,H,W], ...), random."""
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    def randn(*shape, scale=1.0):
        value = (rng.standard_normal(shape) * scale).astype(np.float32)
        return value if shape else np.float32(value)  # tflib.run gives NumPy scalars for 0-d variables

    R = int(np.log2(resolution))
    G = {"lod": np.float32(0), "dlatent_avg": randn(latent)}
    if label_size and not ig:
        G["mapping/LabelConcat/weight"] = randn(label_size, latent)
    fan_in = latent * (2 if label_size and not ig else 1)
    for i in range(mapping_layers):
        G[f"mapping/Dense{i}/weight"] = randn(fan_in if i == 0 else latent, latent, scale=100)  # init std 1/lrmul
        G[f"mapping/Dense{i}/bias"] = randn(latent)
        fan_in = latent

    def modconv(prefix, k, fin, fout, noise=True):
        G[f"{prefix}/weight"] = randn(k, k, fin, fout)
        G[f"{prefix}/mod_weight"] = randn(latent, fin)
        G[f"{prefix}/mod_bias"] = randn(fin, scale=0.3)
        if noise:
            G[f"{prefix}/noise_strength"] = randn(scale=0.5)
        G[f"{prefix}/bias"] = randn(fout, scale=0.3)

    G["synthesis/4x4/Const/const"] = randn(1, nf(1), 4, 4)
    modconv("synthesis/4x4/Conv", 3, nf(1), nf(1))
    if G_arch == "skip":
        modconv("synthesis/4x4/ToRGB", 1, nf(1), channels, noise=False)
    for r in range(3, R + 1):
        res = f"synthesis/{2**r}x{2**r}"
        modconv(f"{res}/Conv0_up", 3, nf(r - 2), nf(r - 1))
        modconv(f"{res}/Conv1", 3, nf(r - 1), nf(r - 1))
        if G_arch == "resnet":
            G[f"{res}/Skip/weight"] = randn(1, 1, nf(r - 2), nf(r - 1))
        if G_arch == "skip" or r == R:
            modconv(f"{res}/ToRGB", 1, nf(r - 1), channels, noise=False)
    for i in range(2 * R - 3):
        size = 2 ** ((i + 5) // 2)
        G[f"synthesis/noise{i}"] = randn(1, 1, size, size)

    D = {}
    for r in range(R, 2, -1):
        res = f"{2**r}x{2**r}"
        if D_arch == "skip" or r == R:
            D[f"{res}/FromRGB/weight"], D[f"{res}/FromRGB/bias"] = randn(1, 1, channels, nf(r - 1)), randn(nf(r - 1))
        D[f"{res}/Conv0/weight"], D[f"{res}/Conv0/bias"] = randn(3, 3, nf(r - 1), nf(r - 1)), randn(nf(r - 1))
        D[f"{res}/Conv1_down/weight"], D[f"{res}/Conv1_down/bias"] = randn(3, 3, nf(r - 1), nf(r - 2)), randn(nf(r - 2))
        if D_arch == "resnet":
            D[f"{res}/Skip/weight"] = randn(1, 1, nf(r - 1), nf(r - 2))
    if D_arch == "skip":
        D["4x4/FromRGB/weight"], D["4x4/FromRGB/bias"] = randn(1, 1, channels, nf(1)), randn(nf(1))
    D["4x4/Conv/weight"], D["4x4/Conv/bias"] = randn(3, 3, nf(1) + (1 if mbstd else 0), nf(1)), randn(nf(1))
    D["4x4/Dense0/weight"], D["4x4/Dense0/bias"] = randn(nf(1) * 16, nf(0)), randn(nf(0))
    out = 1 if ig else max(label_size, 1)
    D["Output/weight"], D["Output/bias"] = randn(nf(0), out), randn(out)
    return G, D


# === ADA ===

PERSISTENCE_VERSION = 6
TORCH_MAGIC = 0x1950A86A20F9469CFC6C
NETWORKS_SRC = "raise RuntimeError('ADA training/networks.py: an importer must never run this')\n"


def _persistence_reconstruct(meta):
    raise AssertionError("a writer stand-in; never called")


def _rebuild_tensor_v2(*args):
    raise AssertionError("a writer stand-in; never called")


def _rebuild_parameter(*args):
    raise AssertionError("a writer stand-in; never called")


def _load_from_bytes(data):
    raise AssertionError("a writer stand-in; never called")


_persistence_reconstruct = _named(_persistence_reconstruct, "_reconstruct_persistent_obj")


class EasyDict(dict):
    """dnnlib.util.EasyDict."""


STORAGE_TYPES = {"FloatStorage": "<f4", "HalfStorage": "<f2", "DoubleStorage": "<f8", "LongStorage": "<i8",
                 "ByteStorage": "u1"}


def legacy_storage_bytes(array, key="94230000000000", storage="FloatStorage"):
    """A storage serialized as torch.save(storage, f, _use_new_zipfile_serialization=False) writes it: pickles
    (protocol 2) of the magic number, protocol version 1001 and sys_info; the storage pickled as persistent id
    ('storage', torch.FloatStorage, key, 'cpu', numel, None); the sorted key list; then the 8-byte little-endian
    element count and the raw little-endian data. Byte for byte what torch 2.13 writes (checked in an experiment)."""
    flat = np.ascontiguousarray(array, dtype=STORAGE_TYPES[storage]).reshape(-1)
    storage_type = type(storage, (), {"__qualname__": storage})
    buf = io.BytesIO()
    for obj in (TORCH_MAGIC, 1001, dict(protocol_version=1001, little_endian=True,
                                        type_sizes=dict(short=2, int=4, long=4))):
        pickle.dump(obj, buf, protocol=2)
    marker = object()

    class StoragePickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", storage_type, key, "cpu", flat.size, None) if obj is marker else None

    with fake_modules({"torch": {storage: storage_type}}):
        StoragePickler(buf, protocol=2).dump(marker)
    pickle.dump([key], buf, protocol=2)
    buf.write(int(flat.size).to_bytes(8, "little"))
    buf.write(flat.tobytes())
    return buf.getvalue()


class Storage:
    def __init__(self, array, key):
        self.array, self.key = array, key

    def __reduce__(self):
        return _load_from_bytes, (legacy_storage_bytes(self.array, self.key),)


_storage_keys = iter(range(94230000000000, 10**15, 64))


class Tensor:
    """A torch tensor as it pickles: _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)."""

    def __init__(self, array):
        self.array = np.asarray(array, np.float32)

    def __reduce__(self):
        stride = tuple(s // 4 for s in np.array(self.array, order="C").strides)  # row-major, in elements
        storage = Storage(self.array, str(next(_storage_keys)))
        return _rebuild_tensor_v2, (storage, 0, self.array.shape, stride, False, collections.OrderedDict())


class Parameter(Tensor):
    def __reduce__(self):
        return _rebuild_parameter, (Tensor(self.array), False, collections.OrderedDict())


class Module:
    """A persistent_class instance: __reduce__ -> _reconstruct_persistent_obj(meta) (ADA persistence.py)."""

    def __init__(self, class_name, attrs, params=None, buffers=None, modules=None, init_args=(), init_kwargs=None):
        od = collections.OrderedDict
        # torch 1.7's nn.Module.__init__ fields, then the attributes ADA's __init__ sets, then persistence's.
        self.state = dict(training=False, _parameters=od((k, Parameter(v)) for k, v in (params or {}).items()),
                          _buffers=od((k, Tensor(v)) for k, v in (buffers or {}).items()),
                          _non_persistent_buffers_set=set(), _backward_hooks=od(), _forward_hooks=od(),
                          _forward_pre_hooks=od(), _state_dict_hooks=od(), _load_state_dict_pre_hooks=od(),
                          _modules=od(modules or {}), **attrs, _init_args=tuple(init_args),
                          _init_kwargs=dict(init_kwargs or {}))
        self.class_name = class_name

    def __reduce__(self):
        meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=NETWORKS_SRC, class_name=self.class_name,
                    state=self.state)
        return _persistence_reconstruct, (meta,)


ADA_MODULES = {
    "torch_utils.persistence": {"_reconstruct_persistent_obj": _persistence_reconstruct},
    "torch._utils": {"_rebuild_tensor_v2": _named(_rebuild_tensor_v2, "_rebuild_tensor_v2"),
                     "_rebuild_parameter": _named(_rebuild_parameter, "_rebuild_parameter")},
    "torch.storage": {"_load_from_bytes": _named(_load_from_bytes, "_load_from_bytes")},
    "dnnlib.util": {"EasyDict": EasyDict},
}


def dump_ada(data):
    """ADA's pickle.dump(snapshot_data, f): protocol 4 (Python 3.7's default), NumPy 1.x names."""
    return dump_numpy1(data, ADA_MODULES)


def ada_params(rng, resolution=8, channels=3, channel_base=64, channel_max=8, z_dim=8, w_dim=8, c_dim=0,
               mapping_layers=2, G_arch="skip", D_arch="resnet", mbstd_num_channels=1):
    """(G tensors, D tensors) {ADA state_dict key: array} with ADA's names and shapes ([out,in,k,k], ...), random."""
    def ch(res):
        return min(channel_base // res, channel_max)

    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def fc(p, name, fin, fout, lr=1.0, bias_scale=0.3, bias_init=0.0):
        p[f"{name}.weight"] = randn(fout, fin, scale=1 / lr)
        p[f"{name}.bias"] = (randn(fout, scale=bias_scale) + bias_init).astype(np.float32)

    def mapping(p, prefix, z, w):
        if c_dim:
            fc(p, f"{prefix}embed", c_dim, w)
        for i in range(mapping_layers):
            fc(p, f"{prefix}fc{i}", (z + (w if c_dim else 0)) if i == 0 else w, w, lr=0.01)

    R = int(np.log2(resolution))
    G = {}
    mapping(G, "mapping.", z_dim, w_dim)
    G["mapping.w_avg"] = randn(w_dim)

    def layer(name, fin, fout, res, k=3):
        fc(G, f"{name}.affine", w_dim, fin, bias_init=1.0)
        G[f"{name}.weight"] = randn(fout, fin, k, k)
        G[f"{name}.bias"] = randn(fout, scale=0.3)
        if k == 3:
            G[f"{name}.noise_const"] = randn(res, res)
            G[f"{name}.noise_strength"] = randn(scale=0.5)

    for r in range(2, R + 1):
        res, b = 2**r, f"synthesis.b{2**r}"
        if r == 2:
            G[f"{b}.const"] = randn(ch(4), 4, 4)
        else:
            layer(f"{b}.conv0", ch(res // 2), ch(res), res)
        layer(f"{b}.conv1", ch(res), ch(res), res)
        if r == R or G_arch == "skip":
            layer(f"{b}.torgb", ch(res), channels, res, k=1)
        if r > 2 and G_arch == "resnet":
            G[f"{b}.skip.weight"] = randn(ch(res), ch(res // 2), 1, 1)

    D = {}
    for r in range(R, 2, -1):
        res, b = 2**r, f"b{2**r}"
        if r == R or D_arch == "skip":
            D[f"{b}.fromrgb.weight"], D[f"{b}.fromrgb.bias"] = randn(ch(res), channels, 1, 1), randn(ch(res))
        D[f"{b}.conv0.weight"], D[f"{b}.conv0.bias"] = randn(ch(res), ch(res), 3, 3), randn(ch(res))
        D[f"{b}.conv1.weight"], D[f"{b}.conv1.bias"] = randn(ch(res // 2), ch(res), 3, 3), randn(ch(res // 2))
        if D_arch == "resnet":
            D[f"{b}.skip.weight"] = randn(ch(res // 2), ch(res), 1, 1)
    if c_dim:
        mapping(D, "mapping.", 0, ch(4))
    if D_arch == "skip":
        D["b4.fromrgb.weight"], D["b4.fromrgb.bias"] = randn(ch(4), channels, 1, 1), randn(ch(4))
    D["b4.conv.weight"], D["b4.conv.bias"] = randn(ch(4), ch(4) + mbstd_num_channels, 3, 3), randn(ch(4))
    D["b4.fc.weight"], D["b4.fc.bias"] = randn(ch(4), ch(4) * 16), randn(ch(4))
    out = ch(4) if c_dim else 1
    D["b4.out.weight"], D["b4.out.bias"] = randn(out, ch(4)), randn(out)
    return G, D


def _filter():
    f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32)
    return f / f.sum()


def _fc_module(p, name, activation="linear", lr=1.0):
    weight = p[name + ".weight"]
    gain = np.float64(lr / np.sqrt(weight.shape[1]))
    return Module("FullyConnectedLayer", dict(activation=activation, weight_gain=gain, bias_gain=lr),
                  params={"weight": weight, "bias": p[name + ".bias"]})


def _conv_module(p, name, activation="linear", up=1, down=1, conv_clamp=None):
    weight = p[name + ".weight"]
    params = {"weight": weight}
    attrs = dict(activation=activation, up=up, down=down, conv_clamp=conv_clamp)
    if name + ".bias" in p:
        params["bias"] = p[name + ".bias"]
    attrs.update(padding=weight.shape[2] // 2, weight_gain=np.float64(1 / np.sqrt(np.prod(weight.shape[1:]))),
                 act_gain=np.float64(np.sqrt(2) if activation == "lrelu" else 1.0))
    if "bias" not in params:
        attrs["bias"] = None  # bias=False: a plain attribute, not a parameter
    return Module("Conv2dLayer", attrs, params=params, buffers={"resample_filter": _filter()})


def _mapping_module(p, prefix, z_dim, c_dim, w_dim, num_ws, num_layers, w_avg_beta):
    modules = {}
    if c_dim:
        modules["embed"] = _fc_module(p, prefix + "embed")
    for i in range(num_layers):
        modules[f"fc{i}"] = _fc_module(p, f"{prefix}fc{i}", "lrelu", 0.01)
    buffers = {"w_avg": p[prefix + "w_avg"]} if num_ws is not None and w_avg_beta is not None else {}
    return Module("MappingNetwork", dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers,
                                         w_avg_beta=w_avg_beta), buffers=buffers, modules=modules)


def ada_generator(p, z_dim=8, c_dim=0, w_dim=8, resolution=8, channels=3, channel_base=64, channel_max=8,
                  mapping_layers=2, architecture="skip", conv_clamp=None, num_fp16_res=0):
    """An ADA Generator module tree holding the tensors p (from ada_params)."""
    R = int(np.log2(resolution))
    blocks, num_ws = {}, 0
    fp16_resolution = max(2 ** (R + 1 - num_fp16_res), 8)
    for r in range(2, R + 1):
        res, b = 2**r, f"synthesis.b{2**r}"
        is_last = r == R

        def layer(name, up=1):
            weight = p[f"{b}.{name}.weight"]
            return Module("SynthesisLayer", dict(resolution=res, up=up, use_noise=True, activation="lrelu",
                                                 conv_clamp=conv_clamp, padding=1, act_gain=np.float64(np.sqrt(2))),
                          params={"weight": weight, "noise_strength": p[f"{b}.{name}.noise_strength"],
                                  "bias": p[f"{b}.{name}.bias"]},
                          buffers={"resample_filter": _filter(), "noise_const": p[f"{b}.{name}.noise_const"]},
                          modules={"affine": _fc_module(p, f"{b}.{name}.affine")})

        modules, params = {}, {}
        if r == 2:
            params["const"] = p[f"{b}.const"]
        else:
            modules["conv0"] = layer("conv0", up=2)
        modules["conv1"] = layer("conv1")
        if is_last or architecture == "skip":
            weight = p[f"{b}.torgb.weight"]
            modules["torgb"] = Module("ToRGBLayer", dict(conv_clamp=conv_clamp,
                                                         weight_gain=np.float64(1 / np.sqrt(weight.shape[1]))),
                                      params={"weight": weight, "bias": p[f"{b}.torgb.bias"]},
                                      modules={"affine": _fc_module(p, f"{b}.torgb.affine")})
        if r > 2 and architecture == "resnet":
            modules["skip"] = _conv_module(p, f"{b}.skip", up=2)
        num_conv, num_torgb = len([m for m in modules if m.startswith("conv")]), int("torgb" in modules)
        blocks[f"b{res}"] = Module("SynthesisBlock", dict(
            in_channels=0 if r == 2 else min(channel_base // (res // 2), channel_max), w_dim=w_dim, resolution=res,
            img_channels=channels, is_last=is_last, architecture=architecture, use_fp16=res >= fp16_resolution,
            channels_last=False, num_conv=num_conv, num_torgb=num_torgb),
            params=params, buffers={"resample_filter": _filter()}, modules=modules)
        num_ws += num_conv + (num_torgb if is_last else 0)
    synthesis = Module("SynthesisNetwork", dict(w_dim=w_dim, img_resolution=resolution, img_resolution_log2=R,
                                                img_channels=channels,
                                                block_resolutions=[2**r for r in range(2, R + 1)], num_ws=num_ws),
                       modules=blocks)
    mapping = _mapping_module(p, "mapping.", z_dim, c_dim, w_dim, num_ws, mapping_layers, 0.995)
    init_kwargs = dict(z_dim=z_dim, w_dim=w_dim, mapping_kwargs=EasyDict(num_layers=mapping_layers),
                       synthesis_kwargs=EasyDict(channel_base=channel_base, channel_max=channel_max,
                                                 num_fp16_res=num_fp16_res, conv_clamp=conv_clamp,
                                                 architecture=architecture),
                       c_dim=c_dim, img_resolution=resolution, img_channels=channels)
    return Module("Generator", dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=resolution,
                                    img_channels=channels, num_ws=num_ws),
                  modules={"synthesis": synthesis, "mapping": mapping}, init_kwargs=init_kwargs)


def ada_discriminator(p, c_dim=0, resolution=8, channels=3, channel_base=64, channel_max=8, architecture="resnet",
                      mbstd_group_size=4, mbstd_num_channels=1, conv_clamp=None, mapping_layers=2):
    """An ADA Discriminator module tree holding the tensors p (from ada_params)."""
    R = int(np.log2(resolution))

    def ch(res):
        return min(channel_base // res, channel_max)

    modules, layer_idx = {}, 0
    for r in range(R, 2, -1):
        res, b = 2**r, f"b{2**r}"
        block = {}
        if r == R or architecture == "skip":
            block["fromrgb"] = _conv_module(p, f"{b}.fromrgb", "lrelu", conv_clamp=conv_clamp)
        block["conv0"] = _conv_module(p, f"{b}.conv0", "lrelu", conv_clamp=conv_clamp)
        block["conv1"] = _conv_module(p, f"{b}.conv1", "lrelu", down=2, conv_clamp=conv_clamp)
        if architecture == "resnet":
            block["skip"] = _conv_module(p, f"{b}.skip", down=2)
        modules[b] = Module("DiscriminatorBlock", dict(
            in_channels=0 if r == R else ch(res), resolution=res, img_channels=channels, first_layer_idx=layer_idx,
            architecture=architecture, use_fp16=False, channels_last=False, num_layers=len(block)),
            buffers={"resample_filter": _filter()}, modules=block)
        layer_idx += len(block)
    cmap_dim = ch(4) if c_dim else 0
    if c_dim:
        modules["mapping"] = _mapping_module(p, "mapping.", 0, c_dim, cmap_dim, None, mapping_layers, None)
    epilogue = {}
    if architecture == "skip":
        epilogue["fromrgb"] = _conv_module(p, "b4.fromrgb", "lrelu")
    if mbstd_num_channels:
        epilogue["mbstd"] = Module("MinibatchStdLayer", dict(group_size=mbstd_group_size,
                                                             num_channels=mbstd_num_channels))
    epilogue["conv"] = _conv_module(p, "b4.conv", "lrelu", conv_clamp=conv_clamp)
    epilogue["fc"] = _fc_module(p, "b4.fc", "lrelu")
    epilogue["out"] = _fc_module(p, "b4.out")
    modules["b4"] = Module("DiscriminatorEpilogue", dict(in_channels=ch(4), cmap_dim=cmap_dim, resolution=4,
                                                         img_channels=channels, architecture=architecture),
                           modules=epilogue)
    init_kwargs = dict(c_dim=c_dim, img_resolution=resolution, img_channels=channels, architecture=architecture,
                       channel_base=channel_base, channel_max=channel_max, num_fp16_res=0, conv_clamp=conv_clamp,
                       epilogue_kwargs=EasyDict(mbstd_group_size=mbstd_group_size))
    return Module("Discriminator", dict(c_dim=c_dim, img_resolution=resolution, img_resolution_log2=R,
                                        img_channels=channels, block_resolutions=[2**r for r in range(R, 2, -1)]),
                  modules=modules, init_kwargs=init_kwargs)


def ada_snapshot(G_params, D_params, G_ema_params, G_kwargs=None, D_kwargs=None):
    """The dict ADA's training loop pickles (training_set_kwargs a plain dict, augment_pipe None)."""
    G_kwargs, D_kwargs = dict(G_kwargs or {}), dict(D_kwargs or {})
    return dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="~/datasets/x.zip",
                                         use_labels=bool(G_kwargs.get("c_dim")), max_size=None, xflip=False,
                                         resolution=G_kwargs.get("resolution", 8)),
                G=ada_generator(G_params, **G_kwargs), D=ada_discriminator(D_params, **D_kwargs),
                G_ema=ada_generator(G_ema_params, **G_kwargs), augment_pipe=None)
