"""Reads a PyTorch state dict saved in torch's legacy (pre-1.6) format into numpy arrays, with
no torch installed.

The legacy format is five pickles in a row (magic number, protocol version, system info, the
state dict whose tensors point at storages by id, the list of storage ids), then, for each
storage in that order, an int64 element count and the raw little-endian elements. Only what a
plain state dict of float/int tensors uses is supported; anything else is a ValueError.

Every pickle here goes through `_Unpickler`, whose find_class allows only OrderedDict and the
torch tensor/storage names (mapped to harmless local stand-ins): like torch.load's
weights_only mode, a crafted file cannot make it import or call anything else.
"""
import collections
import pickle
from typing import Dict

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageType:
    def __init__(self, name: str):
        if name not in _DTYPES:
            raise ValueError(f"unsupported torch storage type {name}")
        self.dtype = np.dtype(_DTYPES[name])


class _Tensor:
    """A tensor waiting for its storage's bytes (they come after the pickles)."""

    def __init__(self, storage_key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = storage_key, offset, tuple(size), tuple(stride)

    def resolve(self, storages: Dict[str, np.ndarray]) -> np.ndarray:
        flat = storages[self.key]
        if not self.size:
            return flat[self.offset].copy()
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *args):
    return _Tensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storage_types):
        super().__init__(f)
        self._storage_types = storage_types

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise ValueError(f"unsupported object in state dict: {module}.{name}")

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, size = saved_id[:5]
        if kind != "storage":
            raise ValueError(f"unsupported persistent id {kind!r}")
        self._storage_types[key] = (storage_type.dtype, size)
        return key


def load_state_dict(path: str) -> Dict[str, np.ndarray]:
    """name -> numpy array (same shapes and dtypes as torch.load(path) would give)."""
    with open(path, "rb") as f:
        storage_types = {}
        load = lambda: _Unpickler(f, storage_types).load()  # noqa: E731 (restricted, see above)
        if load() != MAGIC_NUMBER:
            raise ValueError(f"{path}: not a legacy-format torch file (zip-format files are not supported)")
        load()  # protocol version
        sys_info = load()
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian torch files are not supported")
        state = load()
        keys = load()
        storages = {}
        for key in keys:
            dtype, size = storage_types[key]
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            if count != size:
                raise ValueError(f"{path}: storage {key} has {count} elements, expected {size}")
            storages[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype.newbyteorder("<"))
    return collections.OrderedDict((name, t.resolve(storages) if isinstance(t, _Tensor) else t)
                                   for name, t in state.items())
