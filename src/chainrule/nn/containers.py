"""Containers that register what they hold: ModuleList, ModuleDict, ParameterList, ParameterDict.

A Module finds its submodules and parameters by the attributes they are assigned to. A plain
Python list or dict of them is invisible to ``parameters()``, ``state_dict()`` and the optimizer
(chainrule refuses such an assignment with an error naming these containers); these containers
register every item under its index or key (``layers.0.weight``, ``heads.cls.bias``), as PyTorch's do.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, IndexOutOfRangeError, NotFoundError, UnsupportedError
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _position(owner: Module, idx, n: int) -> int:
    """An integer index into a container of ``n`` items, negative ones counted from the end."""
    try:
        i = operator.index(idx)
    except TypeError:
        raise ArgumentTypeError(
            f"{type(owner).__name__}: indices must be integers or slices, got {type(idx).__name__}"
        ) from None
    if not -n <= i < n:
        raise IndexOutOfRangeError(f"{type(owner).__name__}: index {i} is out of range for {n} items")
    return i % n


def _no_forward(owner: Module):
    raise UnsupportedError(
        f"{type(owner).__name__} is a container and has no forward(): call its items in your module's forward "
        "(for layer in self.layers: x = layer(x)), or use cr.nn.Sequential to chain them"
    )


class ModuleList(Module):
    """A list of Modules, each registered under its index: ``self.layers = nn.ModuleList([...])``.

    Indexing, slicing (a new ModuleList), iteration, ``len``, ``append``, ``extend``, ``insert``,
    ``pop``, ``del``, ``+`` and ``+=`` work as on a list; deleting or inserting renumbers the
    items, as in PyTorch.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def forward(self, *args, **kwargs):
        _no_forward(self)

    def _items(self) -> list:
        return list(self._modules.values())

    def _renumber(self, mods: list) -> None:
        for k in list(self._modules):
            delattr(self, k)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(self._items()[idx])
        return self._items()[_position(self, idx, len(self._modules))]

    def __setitem__(self, idx, module: Module) -> None:
        i = _position(self, idx, len(self._modules))
        self.add_module(str(i), _checked_module(self, module))

    def __delitem__(self, idx) -> None:
        mods = self._items()
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_position(self, idx, len(mods))]
        self._renumber(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(self._items() + list(other))

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _checked_module(self, module))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if isinstance(modules, (Module, str)) or not isinstance(modules, Iterable):
            raise ArgumentTypeError(
                f"{type(self).__name__}.extend: expected an iterable of Modules, got a {type(modules).__name__}"
            )
        for m in list(modules):
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = self._items()
        mods.insert(operator.index(index), _checked_module(self, module))
        self._renumber(mods)

    def pop(self, idx: int = -1) -> Module:
        m = self[idx]
        del self[idx]
        return m

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]


def _checked_module(owner: Module, m) -> Module:
    if not isinstance(m, Module):
        raise ArgumentTypeError(f"{type(owner).__name__}: expected a Module, got a {type(m).__name__}")
    return m


def _pairs(owner: Module, items) -> list:
    """(key, value) pairs from a mapping or an iterable of pairs, as ``dict.update`` takes them."""
    if isinstance(items, (Mapping, ModuleDict, ParameterDict)):
        return list(items.items())
    if isinstance(items, (str, Module)) or not isinstance(items, Iterable):
        raise ArgumentTypeError(
            f"{type(owner).__name__}.update: expected a mapping or an iterable of (key, value) pairs, got a "
            f"{type(items).__name__}"
        )
    out = []
    for j, kv in enumerate(items):
        if not isinstance(kv, (tuple, list)) or len(kv) != 2:
            raise ArgumentError(f"{type(owner).__name__}.update: element {j} is not a (key, value) pair: {kv!r:.60}")
        out.append(tuple(kv))
    return out


class ModuleDict(Module):
    """A dict of Modules, each registered under its key: ``self.heads = nn.ModuleDict({"cls": ..., "box": ...})``.

    ``d[key]``, ``d[key] = m``, ``del d[key]``, ``in``, ``len``, iteration over the keys (in insertion
    order), ``keys``, ``values``, ``items``, ``update``, ``pop`` and ``clear``, as in PyTorch. Keys are
    strings that do not hide one of the module's attributes (``"keys"``, ``"training"`` are refused).
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def forward(self, *args, **kwargs):
        _no_forward(self)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise NotFoundError(
                f"{type(self).__name__}: no module under the key {key!r}; the keys are {list(self._modules)}"
            ) from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _checked_module(self, module))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - raises NotFoundError for a missing key
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules) -> None:
        for k, m in _pairs(self, modules):
            self[k] = m

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def clear(self) -> None:
        for k in list(self._modules):
            delattr(self, k)


def _as_parameter(value):
    """What a parameter container stores: a Tensor or array becomes a Parameter (sharing its memory), as
    PyTorch's containers wrap plain tensors; a Parameter, None or any other object is stored as it is."""
    if isinstance(value, Parameter) or value is None:
        return value
    if isinstance(value, (Tensor, np.ndarray)):
        arr = value.data if isinstance(value, Tensor) else value
        p = Parameter(arr)
        p.data = arr  # the same memory, as PyTorch's Parameter(tensor) shares its storage
        return p
    return value


class ParameterList(Module):
    """A list of Parameters, each registered under its index: ``self.ws = nn.ParameterList([...])``.

    Tensors and arrays put in it become Parameters (sharing their memory). Indexing, slicing (a new
    ParameterList), iteration, ``len``, ``append``, ``extend`` and ``+=``, as in PyTorch.
    """

    def __init__(self, values: Iterable | None = None):
        super().__init__()
        object.__setattr__(self, "_size", 0)
        if values is not None:
            self.extend(values)

    def forward(self, *args, **kwargs):
        _no_forward(self)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(self._size)[idx]])
        return getattr(self, str(_position(self, idx, self._size)))

    def __setitem__(self, idx, value) -> None:
        i = _position(self, idx, self._size)
        setattr(self, str(i), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator:
        return iter([self[i] for i in range(self._size)])

    def __iadd__(self, values: Iterable) -> ParameterList:
        return self.extend(values)

    def append(self, value) -> ParameterList:
        n = self._size
        object.__setattr__(self, "_size", n + 1)
        setattr(self, str(n), _as_parameter(value))
        return self

    def extend(self, values: Iterable) -> ParameterList:
        if isinstance(values, (Tensor, np.ndarray, str)) or not isinstance(values, Iterable):
            raise ArgumentTypeError(
                f"{type(self).__name__}.extend: expected an iterable of Parameters, got a {type(values).__name__}"
            )
        for v in list(values):
            self.append(v)
        return self

    def extra_repr(self) -> str:
        lines = []
        for i in range(self._size):
            v = self[i]
            if isinstance(v, Tensor):
                lines.append(f"  ({i}): Parameter containing: [{v.dtype} of size {'x'.join(map(str, v.shape))}]")
            else:
                lines.append(f"  ({i}): Object of type: {type(v).__name__}")
        return ("\n" + "\n".join(lines) + "\n") if lines else ""

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]


class ParameterDict(Module):
    """A dict of Parameters, each registered under its key: ``self.scales = nn.ParameterDict({...})``.

    Tensors and arrays put in it become Parameters (sharing their memory). ``d[key]``,
    ``d[key] = p``, ``del d[key]``, ``in``, ``len``, iteration over the keys (in insertion order),
    ``keys``, ``values``, ``items``, ``get``, ``update``, ``pop`` and ``clear``, as in PyTorch.
    """

    def __init__(self, parameters=None):
        super().__init__()
        object.__setattr__(self, "_keys", OrderedDict())
        if parameters is not None:
            self.update(parameters)

    def forward(self, *args, **kwargs):
        _no_forward(self)

    def __getitem__(self, key: str):
        if key not in self._keys:
            raise NotFoundError(
                f"{type(self).__name__}: no parameter under the key {key!r}; the keys are {list(self._keys)}"
            )
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str):
            raise ArgumentTypeError(f"{type(self).__name__}: keys must be strings, got {key!r}")
        if key not in self._keys:
            self._check_new_name("__setitem__", key, {})
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - raises NotFoundError for a missing key
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key) -> bool:
        return key in self._keys

    def keys(self):
        return list(self._keys)

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def get(self, key: str, default=None):
        return self[key] if key in self._keys else default

    def update(self, parameters) -> None:
        for k, v in _pairs(self, parameters):
            self[k] = v

    def pop(self, key: str):
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def extra_repr(self) -> str:
        lines = []
        for k in self._keys:
            v = self[k]
            if isinstance(v, Tensor):
                lines.append(f"  ({k}): Parameter containing: [{v.dtype} of size {'x'.join(map(str, v.shape))}]")
            else:
                lines.append(f"  ({k}): Object of type: {type(v).__name__}")
        return ("\n" + "\n".join(lines) + "\n") if lines else ""
