"""Module and Parameter: the containers networks are built from."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ..autograd import mark_modified
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, SerializationError, UnsupportedError
from ..tensor import Tensor, check_device, device_and_dtype, from_numpy, to_array

__all__ = ["Parameter", "Module"]


class Parameter(Tensor):
    """A tensor that is a learnable weight of a Module (``requires_grad`` is on by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, name: str | None = None):
        super().__init__(to_array(data, copy=False), requires_grad=requires_grad, name=name)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("tensor(") :]


class _HookHandle:
    def __init__(self, hooks: dict, key):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match: names the model has and the state lacks, and the reverse."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer and network.

    Assign Parameters and sub-Modules as attributes in ``__init__`` and write
    ``forward``; they are registered in assignment order, which fixes the order
    of ``parameters()`` and the names in ``state_dict()`` (``layers.0.weight``).
    Non-learnable state that belongs in ``state_dict`` (running statistics)
    is registered with ``register_buffer``.
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes in __init__"
            )
        modules, buffers = self._modules, self._buffers
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
            if value.name is None:
                value.name = name
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
            # Parameters are named by their attribute path: prefix the child's own names.
            for rel, t in list(value.named_parameters()) + list(value.named_buffers()):
                if t.name == rel:
                    t.name = f"{name}.{rel}"
        elif name in buffers:
            old = buffers[name]
            if value is not None and not isinstance(value, Tensor):
                # a buffer is always a Tensor (or None) that owns its memory: an array is copied, in
                # the buffer's dtype, so later in-place updates never write into the caller's array
                arr = to_array(value, None if old is None else np.asarray(value).dtype)
                if old is not None and arr.dtype != old.data.dtype:
                    if not np.can_cast(arr.dtype, old.data.dtype, "same_kind"):
                        raise ArgumentTypeError(
                            f"{type(self).__name__}: cannot assign {arr.dtype} values to buffer '{name}' of dtype "
                            f"{old.data.dtype} without losing information; convert them first, or assign a Tensor "
                            "to replace the buffer"
                        )
                    arr = arr.astype(old.data.dtype)
                value = from_numpy(arr)
            if value is not None and value.name is None:
                value.name = old.name if old is not None and old.name else name
            buffers[name] = value
        elif name in params and value is not None:
            raise ArgumentTypeError(
                f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter '{name}' (a "
                "Parameter or None is expected); wrap it, cr.nn.Parameter(value), or change the values in "
                f"place: with cr.no_grad(): module.{name}[...] = value"
            )
        else:
            if isinstance(value, (list, tuple, dict)) and value:
                _refuse_plain_container(self, name, value)
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        self._non_persistent_buffers.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """Keep ``value`` (a Tensor or array) with the module without training it.

        A persistent buffer (the default) is saved in ``state_dict``; ``persistent=False`` keeps it out
        (it still moves with ``to(dtype)`` and is listed by ``buffers()``), as in PyTorch.
        """
        self._check_new_name("register_buffer", name, self._buffers)
        if value is not None and not isinstance(value, Tensor):
            value = from_numpy(to_array(value))  # a private copy (lists follow cr.tensor's dtype rules)
        if value is not None and value.name is None:
            value.name = name
        self._buffers[name] = value
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        self._check_new_name("register_parameter", name, self._parameters)
        if value is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            if not isinstance(value, Parameter):
                raise ArgumentTypeError(
                    f"{type(self).__name__}.register_parameter: '{name}' must be a Parameter or None, got a "
                    f"{type(value).__name__}; wrap it: cr.nn.Parameter(value)"
                )
            setattr(self, name, value)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the submodule ``name`` (as ``self.name = module`` does)."""
        self._check_new_name("add_module", name, self._modules)
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(
                f"{type(self).__name__}.add_module: '{name}' must be a Module or None, got a {type(module).__name__}"
            )
        if module is None:
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    register_module = add_module

    def _check_new_name(self, what: str, name, own: dict) -> None:
        """PyTorch's rules for a registered name: a non-empty string without dots that does not hide an
        attribute of another kind (a method, a plain attribute, or another kind of registered value)."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"{type(self).__name__}.{what}: the name must be a string, got {name!r}")
        if not name or "." in name:
            raise ArgumentError(
                f"{type(self).__name__}.{what}: the name must be non-empty and contain no '.', got {name!r}"
            )
        if name not in own and (hasattr(type(self), name) or name in self.__dict__):
            raise ArgumentError(f"{type(self).__name__}.{what}: attribute '{name}' already exists")

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        raise UnsupportedError(f"{type(self).__name__} must define forward()")

    _forward_hooks = None  # a dict once a hook is registered

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        hooks = self._forward_hooks
        if hooks:
            for hook in list(hooks.values()):
                r = hook(self, args, out)
                if r is not None:
                    out = r
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward; it may return a replacement output.

        Returns a handle whose ``remove()`` unregisters the hook.
        """
        hooks = self.__dict__.get("_forward_hooks")
        if hooks is None:
            hooks = {}
            object.__setattr__(self, "_forward_hooks", hooks)
        key = object()
        hooks[key] = hook
        return _HookHandle(hooks, key)

    # ------------------------------------------------------------------ traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for every direct submodule, a module registered twice once (as in PyTorch)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) for this module and every submodule, depth first in registration order
        (this module first, named ``prefix``); a module reachable twice is listed once unless
        ``remove_duplicate=False``. PyTorch's signature: ``memo`` is a set of modules to leave out."""
        if isinstance(memo, str):  # named_modules("prefix"), the spelling of earlier versions
            memo, prefix = None, memo
        if not remove_duplicate:
            yield from self._all_named_modules(prefix)
            return
        seen = {id(m) for m in memo} if memo is not None else set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            if memo is not None:
                memo.add(m)
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items() if c is not None]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every submodule (children first, depth first) and then on this module;
        returns self. The usual use is initialisation: ``model.apply(init_weights)``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs in registration order; a shared parameter appears once unless
        ``remove_duplicate=False`` (then under every name it has, as in ``state_dict``)."""
        seen = set()
        if not recurse:
            mods = [(prefix, self)]
        else:
            mods = self.named_modules(prefix=prefix) if remove_duplicate else self._all_named_modules(prefix)
        for mname, m in mods:
            for pname, p in m._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def _all_named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every (name, module), a shared module under each of its names (depth first, in order)."""
        stack = [(prefix, self, ())]
        while stack:
            name, m, above = stack.pop()
            yield name, m
            kids = [
                (f"{name}.{k}" if name else k, c, above + (id(m),))
                for k, c in m._modules.items()
                if c is not None and id(c) not in above and c is not m
            ]
            stack.extend(reversed(kids))

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """(name, buffer) pairs, persistent or not, in registration order."""
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for bname, b in m._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch statistics used); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off, running statistics used); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = from_numpy(np.zeros_like(p.data))

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, **kwargs) -> Module:
        """Convert every floating-point parameter, gradient and buffer to a dtype, in place; returns self.

        PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` (its dtype)
        and the keywords ``device=``, ``dtype=``, ``non_blocking=`` (ignored). The parameters stay the same
        objects (an optimizer made before keeps working on them); integer buffers keep their dtype. The only
        device is ``"cpu"``: chainrule computes on the CPU with NumPy, and any other device is an error.
        """
        dtype = _to_dtype(type(self).__name__, args, kwargs)
        if dtype is None:
            return self
        for p in self.parameters():
            if p.data.dtype.kind == "f" and p.data.dtype != dtype:
                p.data = p.data.astype(dtype)
                if p.grad is not None:
                    p.grad = from_numpy(p.grad.data.astype(dtype))
        for b in self.buffers():
            if b.data.dtype.kind == "f" and b.data.dtype != dtype:
                b.data = b.data.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def cpu(self) -> Module:
        """The module itself: chainrule computes on the CPU."""
        return self

    def cuda(self, device=None) -> Module:
        check_device(type(self).__name__, "cuda" if device is None else f"cuda:{device}")
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Name -> array for every parameter and buffer (the arrays themselves, not copies)."""
        return OrderedDict((name, t.data) for name, t in self._state_tensors())

    def _state_tensors(self) -> Iterator[tuple[str, Tensor]]:
        """Module by module, its parameters then its buffers; a shared tensor under each of its names."""
        for mname, m in self._all_named_modules():
            skip = m._non_persistent_buffers  # buffers registered with persistent=False
            for k, t in m._parameters.items():
                if t is not None:
                    yield (f"{mname}.{k}" if mname else k), t
            for k, t in m._buffers.items():
                if t is not None and k not in skip:
                    yield (f"{mname}.{k}" if mname else k), t

    def load_state_dict(self, state, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the parameters and buffers, after checking names, shapes and dtypes.

        With ``strict`` every name must match both ways. Any difference raises
        SerializationError listing all of them; nothing is changed then. Returns the
        ``(missing_keys, unexpected_keys)`` (both empty after a strict load), as PyTorch does.
        """
        own = OrderedDict(self._state_tensors())
        state = dict(state)
        present = {id(own[k]) for k in own if k in state}
        # a tensor shared under several names (tied weights) is there if any of its names is
        missing = [k for k in own if k not in state and id(own[k]) not in present]
        unexpected = [k for k in state if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected: " + ", ".join(unexpected))
        for k, t in own.items():
            if k not in state:
                continue
            v = state[k]
            v = v.data if isinstance(v, Tensor) else np.asarray(v)
            if v.shape != t.data.shape:
                problems.append(f"{k}: shape {v.shape} in the file, {t.data.shape} in the model")
            elif v.dtype != t.data.dtype and not (v.dtype.kind == t.data.dtype.kind == "f"):
                problems.append(f"{k}: dtype {v.dtype} in the file, {t.data.dtype} in the model")
        if problems:
            raise SerializationError(
                f"load_state_dict: the state does not fit {type(self).__name__}: " + "; ".join(problems)
            )
        changed = []
        for k, t in own.items():
            if k in state:
                v = state[k]
                v = v.data if isinstance(v, Tensor) else np.asarray(v)
                if t.data.flags.writeable:  # in place: views of it (W.T in a recorded graph) see the change
                    np.copyto(t.data, v, casting="unsafe")
                else:
                    t.data = np.array(v, dtype=t.data.dtype, copy=True)
                changed.append(t)
        mark_modified(changed)  # graphs recorded before this see new values: backward through them refuses
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        """Jupyter's display: a table of the layers, their parameters and (after ``cr.summary(model, shape)``)
        their output shapes."""
        from ..model_summary import module_html

        return module_html(self)


# ---------------------------------------------------------------------------- helpers
def _refuse_plain_container(module: Module, name: str, value) -> None:
    """A list, tuple or dict of Modules or Parameters assigned as an attribute is not registered (PyTorch
    silently ignores its parameters); refuse it, naming the container that registers them."""
    items = list(value.values()) if isinstance(value, dict) else list(value)
    kind = type(value).__name__
    if any(isinstance(v, Module) for v in items):
        container = "ModuleDict" if isinstance(value, dict) else "ModuleList"
        what = "Modules"
    elif any(isinstance(v, Parameter) for v in items):
        container = "ParameterDict" if isinstance(value, dict) else "ParameterList"
        what = "Parameters"
    else:
        return
    raise ArgumentTypeError(
        f"{type(module).__name__}: '{name}' is assigned a {kind} of {what}, which a Module does not register: "
        f"their parameters would be missing from parameters(), state_dict() and the optimizer. Use "
        f"self.{name} = cr.nn.{container}(...) instead"
    )


def _to_dtype(owner: str, args, kwargs):
    """The dtype that Module.to(...) asks for (None: none), after checking any device it names."""
    dt = device_and_dtype(owner, args, kwargs)
    if dt is not None and dt.kind not in "fc":
        raise DTypeError(f"{owner}.to: only floating-point dtypes convert a module's parameters, got {dt}")
    return dt
