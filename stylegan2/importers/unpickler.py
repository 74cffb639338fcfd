"""Reading NVIDIA's network pickles as plain data, without running any code from them.

NVIDIA's own loaders run code from the file: a TF1 `dnnlib.tflib.network.Network` `exec`s its `build_module_src`,
an ADA `torch_utils.persistence` object `exec`s its `module_src`, and `pickle.load` itself calls whatever global a
pickle names. `load_network_pickle` uses an unpickler whose `find_class` resolves only the globals these files
name (see LAYOUT.md), each to a function of this module that builds plain data: NumPy arrays, `TF1Network` and
`ADAModule` records, dicts. The module sources are dropped unread. Any other global (`os.system`, `builtins.eval`,
`subprocess.Popen`, ...) is refused before anything is called, with one line naming it.

ADA's tensors are decoded without PyTorch: each storage is a legacy (non-zip) `torch.save` stream, read by
`decode_torch_storage` with a second restricted unpickler that resolves only storage types.
"""

import collections
import io
import pickle

import numpy as np


class RefusedPickle(Exception):
    """The pickle names a global a network pickle never contains, or holds data of the wrong kind."""


# === Stand-ins: what NVIDIA's classes become ===


class TF1Network:
    """A `dnnlib.tflib.network.Network` as data: the fields of its pickled state (NVIDIA `Network.__getstate__`).

    version, name, static_kwargs (dict), components ({name: TF1Network}), build_func_name, variables [(name, array)].
    `build_module_src` (the source NVIDIA's loader `exec`s) is dropped unread.
    """

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise RefusedPickle(f"a TF1 Network's state is a {type(state).__name__}, not a dict")
        self.version = state.get("version")
        self.name = state.get("name")
        self.static_kwargs = dict(state.get("static_kwargs") or {})
        self.components = dict(state.get("components") or {})
        self.build_func_name = state.get("build_func_name")
        self.variables = list(state.get("variables") or [])
        for comp in self.components.values():
            if not isinstance(comp, TF1Network):
                raise RefusedPickle(f"TF1 Network {self.name!r} has a component of type {type(comp).__name__}")


class ADAModule:
    """A `torch_utils.persistence` object as data: the class name, the persistence version and the object's
    `__dict__` (constructor attributes, `_parameters`, `_buffers`, `_modules`). `module_src` is dropped unread."""

    def __init__(self, class_name, version, state):
        self.class_name = class_name
        self.version = version
        self.state = state

    def attr(self, name, default=None):
        return self.state.get(name, default)

    @property
    def children(self):
        """{name: ADAModule} of the torch submodules (None entries dropped)."""
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    @property
    def tensors(self):
        """{name: array} of the module's own parameters and buffers (Freeze-D keeps frozen weights as buffers)."""
        out = {}
        for field in ("_parameters", "_buffers"):
            out.update({k: v for k, v in (self.state.get(field) or {}).items() if v is not None})
        return out


class EasyDict(dict):
    """`dnnlib.util.EasyDict` as a plain dict (NVIDIA's adds attribute access, which data does not need)."""

    def __setstate__(self, state):
        if state:
            raise RefusedPickle("an EasyDict with instance attributes")


class TorchStorage:
    """A decoded torch storage: a flat NumPy array of its elements."""

    def __init__(self, array):
        self.array = array


# === Safe reconstructors for the globals a network pickle names ===

NUMERIC_KINDS = "biufc"


def _numeric_dtype(dtype, what):
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.fields:
        raise RefusedPickle(f"{what} of dtype {dtype!r}; network pickles hold numeric arrays only")
    return dtype


class _NdarrayType:
    """What `numpy.ndarray` resolves to: a marker `_np_reconstruct` accepts, not a constructor a pickle could call."""


NDARRAY = _NdarrayType()


def _np_reconstruct(subtype, shape, dtype_code):
    """numpy.core.multiarray._reconstruct: an empty ndarray that BUILD then fills (ndarray.__setstate__)."""
    if subtype is not NDARRAY:
        raise RefusedPickle(f"an array of type {getattr(subtype, '__name__', subtype)!r}")
    return np.ndarray.__new__(np.ndarray, shape=(0,), dtype=np.uint8)


def _np_dtype(obj, align=False, copy=False):
    """numpy.dtype, for numeric type codes only (no object, void or structured dtypes)."""
    if not isinstance(obj, str):
        raise RefusedPickle(f"a NumPy dtype built from a {type(obj).__name__}")
    return _numeric_dtype(np.dtype(obj), "a NumPy array")


def _np_scalar(dtype, data):
    """numpy.core.multiarray.scalar: a NumPy scalar from its raw bytes."""
    _numeric_dtype(dtype, "a NumPy scalar")
    if isinstance(data, str):
        data = data.encode("latin1")  # Python 2 pickles
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise RefusedPickle("a NumPy scalar whose data is not its dtype's bytes")
    return np.frombuffer(data, dtype)[0]


def _np_frombuffer(buf, dtype, shape, order):
    """numpy.core.numeric._frombuffer (protocol 5): an array over in-band bytes, copied."""
    _numeric_dtype(dtype, "a NumPy array")
    if order not in ("C", "F"):
        raise RefusedPickle(f"a NumPy array in order {order!r}")
    return np.frombuffer(bytes(buf), dtype).reshape(shape, order=order).copy()


def _codecs_encode(obj, encoding="utf-8"):
    """_codecs.encode, as protocol-2 pickles write bytes: only str -> latin-1 bytes."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedPickle("_codecs.encode called for anything but bytes")
    return obj.encode("latin1")


def _reconstruct_persistent_obj(meta):
    """torch_utils.persistence._reconstruct_persistent_obj: an ADAModule, without the module source."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise RefusedPickle("a persistent object without type='class' and a class name")
    state = meta.get("state")
    if not isinstance(state, dict):
        raise RefusedPickle(f"persistent object {meta['class_name']} without a state dict")
    return ADAModule(meta["class_name"], meta.get("version"), state)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """torch._utils._rebuild_tensor_v2: the tensor's elements as a NumPy array (a copy of the storage view)."""
    if not isinstance(storage, TorchStorage):
        raise RefusedPickle("a tensor whose storage is not a torch storage")
    size, stride = tuple(size), tuple(stride)
    if (not isinstance(storage_offset, int) or len(size) != len(stride)
            or not all(isinstance(v, int) and v >= 0 for v in size + stride + (storage_offset,))):
        raise RefusedPickle(f"a tensor with offset {storage_offset!r}, size {size!r}, stride {stride!r}")
    flat = storage.array
    if any(s == 0 for s in size):
        return np.zeros(size, flat.dtype)
    last = storage_offset + sum((n - 1) * st for n, st in zip(size, stride))
    if last >= flat.size:
        raise RefusedPickle(f"a tensor of size {size} reaching past its storage of {flat.size} elements")
    view = np.lib.stride_tricks.as_strided(flat[storage_offset:], shape=size,
                                           strides=[st * flat.itemsize for st in stride], writeable=False)
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    """torch._utils._rebuild_parameter: the parameter's data."""
    if not isinstance(data, np.ndarray):
        raise RefusedPickle("a parameter whose data is not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    return _rebuild_parameter(data)


def _load_from_bytes(data):
    """torch.storage._load_from_bytes: a storage from its legacy torch.save stream."""
    if not isinstance(data, bytes):
        raise RefusedPickle("a torch storage that is not bytes")
    return TorchStorage(decode_torch_storage(data))


def _plain(constructor):
    """A builtin container constructor, called on data only."""
    def build(*args):
        return constructor(*args)
    return build


NUMPY_GLOBALS = {
    **{(m, "_reconstruct"): _np_reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _np_scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _np_frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _np_dtype,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): _plain(set),
    ("builtins", "frozenset"): _plain(frozenset),
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
}
TF1_GLOBALS = {("dnnlib.tflib.network", "Network"): TF1Network}
ADA_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
}
NETWORK_PICKLE_GLOBALS = {**NUMPY_GLOBALS, **TF1_GLOBALS, **ADA_GLOBALS}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in `allowed` ({(module, name): callable}) and refuses the rest."""

    def __init__(self, file, allowed):
        super().__init__(file, encoding="latin1")  # latin1: NVIDIA's load_pkl, for Python 2 era pickles
        self.allowed = allowed

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise RefusedPickle(f"it names {module}.{name}, which no network pickle contains") from None


def load_network_pickle(file):
    """The object a network pickle holds, built from data alone. Raises RefusedPickle, or pickle's and NumPy's own
    errors for a damaged file."""
    return RestrictedUnpickler(file, NETWORK_PICKLE_GLOBALS).load()


# === torch's legacy storage stream (torch/serialization.py `_legacy_save`) ===

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _StorageUnpickler(RestrictedUnpickler):
    """The pickle inside a storage stream: storage types, and persistent ids naming the storages."""

    def __init__(self, file):
        super().__init__(file, {("torch", name): _StorageType(name) for name in STORAGE_DTYPES})
        self.storages = {}  # key -> (type name, numel)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise RefusedPickle(f"a torch storage stream with persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise RefusedPickle("a torch storage record without a storage type and element count")
        self.storages.setdefault(key, (storage_type.name, numel))
        if view is not None:  # (view key, offset, size): a view of the root storage (torch < 0.4)
            _view_key, offset, size = view
            return ("view", key, offset, size)
        return ("root", key)


def _small_pickle(f):
    return RestrictedUnpickler(f, {}).load()


def decode_torch_storage(data):
    """The elements of one storage from its legacy `torch.save` stream, as a flat NumPy array.

    Layout (torch/serialization.py `_legacy_save`): pickles of the magic number, the protocol version (1001) and
    the system info dict (`little_endian`, `type_sizes`); the pickle of the object, whose persistent id
    ('storage', <torch.XStorage>, key, location, numel, view) names the storage; the pickled sorted list of storage
    keys; then per key an 8-byte element count and the raw elements.
    """
    f = io.BytesIO(data)
    if _small_pickle(f) != TORCH_MAGIC:
        raise RefusedPickle("a torch storage stream without torch's magic number")
    if _small_pickle(f) != TORCH_PROTOCOL:
        raise RefusedPickle("a torch storage stream of an unknown protocol version")
    sys_info = _small_pickle(f)
    order = "<" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else ">"
    unpickler = _StorageUnpickler(f)
    record = unpickler.load()
    keys = _small_pickle(f)
    if not isinstance(record, tuple) or not isinstance(keys, list) or set(keys) != set(unpickler.storages):
        raise RefusedPickle("a torch storage stream whose keys do not match its storages")
    arrays = {}
    for key in keys:
        type_name, numel = unpickler.storages[key]
        count = int.from_bytes(f.read(8), "little" if order == "<" else "big", signed=True)
        code = STORAGE_DTYPES[type_name]
        dtype = np.dtype(order + ("u2" if code == "bf16" else code))
        raw = f.read(count * dtype.itemsize)
        if count != numel or len(raw) != count * dtype.itemsize:
            raise RefusedPickle(f"a torch storage of {numel} elements with {len(raw)} bytes of data")
        array = np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
        if code == "bf16":  # bfloat16 = the high half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        arrays[key] = array
    if record[0] == "root":
        return arrays[record[1]]
    _, key, offset, size = record
    return arrays[key][offset:offset + size]
