"""ONNX export: a chainrule model as an ONNX file that onnxruntime (or any other ONNX runtime) runs.

    import chainrule as cr

    model.eval()
    cr.onnx.export(model, X[:2], "model.onnx")        # dynamic batch: the file takes any number of rows

    import onnxruntime as ort
    sess = ort.InferenceSession("model.onnx")
    probs = sess.run(None, {"input": X_new.astype("float32")})[0]

How it works: the model runs on the example input with recording on (the input is copied into a leaf that
requires grad, so every operation that depends on it is recorded, whatever the model's parameters and the
caller's grad mode). The exporter then walks the RECORDED graph from the output back, through each node's
``next_functions`` and public settings (a Linear node's, a convolution's strides and paddings, a pooling
node's windows), and writes one ONNX node (or a few) per recorded operation:

- the model's parameters and buffers are ONNX initializers named by their ``state_dict`` names
  (``0.weight``, ``rnn.weight_ih_l0``...); other constants the graph holds are initializers too;
- the example input is the graph input (``input``, or ``input_names``); its first dimension is the symbolic
  ``batch`` when ``dynamic_batch`` is True;
- a few layers are written as one ONNX operator rather than as the operations they record: BatchNorm1d/2d in
  eval mode (BatchNormalization, with the running statistics), Standardize, and PixelShuffle on 4-D input
  (DepthToSpace, mode CRD).

To know which dimensions follow the batch, the model runs a second time on a batch one row larger (rows in
another order); every recorded value whose size changes with it is dynamic, and reshapes, broadcasts and slices
are written so that they follow it. A constant that changes between the two runs (a mask computed from the
input's values, zeros made with the batch's size, a random draw) cannot be a constant of the file, and is an
error that names the operation that holds it.

What is refused, with an :class:`~chainrule.errors.UnsupportedError` naming the operation and what to do:
operations without an ONNX counterpart (losses, unfold/fold, sorting with indices, scatters, a user's
``cr.Function``), a model in training mode whose Dropout or BatchNorm would behave otherwise (call
``model.eval()``), and graphs whose structure or constants depend on the batch size or on the input's values.

The ``onnx`` package is needed (``pip install 'chainrule[onnx]'``); importing chainrule never imports it.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import ops
from .errors import ArgumentError, ArgumentTypeError, ChainruleError, UnsupportedError, missing
from .modes import enable_grad
from .tensor import Tensor

__all__ = ["export", "SUPPORTED"]

_INT_MAX = np.iinfo(np.int64).max
_INT_MIN = np.iinfo(np.int64).min
_MIN_OPSET = 17


def _onnx():
    """The onnx package (imported only when exporting)."""
    try:
        import onnx  # the onnx package (absolute import: this module is chainrule.onnx)
    except ImportError:
        raise missing("onnx", "onnx", "ONNX export") from None
    return onnx


# ----------------------------------------------------------------------------- the public function
def export(
    model,
    example_input,
    path,
    opset: int = 17,
    dynamic_batch: bool = True,
    input_names=None,
    output_names=None,
):
    """Write ``model`` as an ONNX file at ``path`` (None: write nothing) and return the ``onnx.ModelProto``.

    ``example_input``: an array or Tensor (or a tuple of them, for a model of several inputs; a list is one
    array) with which the model is run to record its graph; it need not require grad. ``opset``: the ONNX
    operator set (17 or later). ``dynamic_batch``: the first dimension of every input (and what follows it) is
    the symbolic ``batch``, so the file takes any batch size (for a time-major recurrent model, whose first
    dimension is the sequence, any length); with False every shape is the example's. ``input_names``,
    ``output_names``: the graph's names (by default ``input``/``output``, numbered when there are several).

    The model runs as it is: call ``model.eval()`` first (a model whose Dropout or BatchNorm is in training
    mode is refused, since its recorded operations would not be the ones used for predictions).
    """
    onnx = _onnx()
    from .nn.module import Module

    if not isinstance(model, Module):
        raise ArgumentTypeError(f"onnx.export: model must be a chainrule nn.Module, got {type(model).__name__}")
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not _MIN_OPSET <= opset <= latest:
        raise ArgumentError(
            f"onnx.export: opset must be an int from {_MIN_OPSET} to {latest} (the newest this onnx package "
            f"knows), got {opset!r}"
        )
    _check_eval(model)
    arrays = _example_arrays(example_input)
    names_in = _names(input_names, "input", len(arrays), "input_names")
    run1 = _record(model, arrays)
    run2 = _record(model, [_other_batch(a, dynamic_batch) for a in arrays])
    names_out = _names(output_names, "output", len(run1.outputs), "output_names")
    if len(run2.outputs) != len(run1.outputs):
        raise UnsupportedError(
            "onnx.export: the model returns a different number of outputs for another batch; its graph cannot be "
            "written as one ONNX graph"
        )
    graph = _Exporter(onnx, int(opset), model, run1, run2, names_in, names_out, dynamic_batch)
    proto = graph.build()
    if path is not None:
        path = os.fspath(path)
        onnx.save(proto, path)
    return proto


def _names(given, default: str, n: int, what: str) -> list:
    if given is None:
        return [default] if n == 1 else [f"{default}_{k}" for k in range(n)]
    given = [given] if isinstance(given, str) else list(given)
    if len(given) != n or not all(isinstance(s, str) and s for s in given) or len(set(given)) != n:
        raise ArgumentError(f"onnx.export: {what} must be {n} distinct non-empty string(s), got {given!r}")
    return given


def _check_eval(model) -> None:
    """Refuse a model whose Dropout or BatchNorm layers are in training mode (before running it: a BatchNorm in
    training mode would update its running statistics)."""
    from . import nn

    train_only = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.BatchNorm1d, nn.BatchNorm2d)
    for name, m in model.named_modules():
        active = isinstance(m, train_only) or (isinstance(m, nn.RNNBase) and m.dropout > 0)
        if active and m.training:
            raise UnsupportedError(
                f"onnx.export: layer '{name or type(m).__name__}' ({type(m).__name__}) is in training mode, where "
                "it draws random masks or normalises with the batch's statistics; call model.eval() before "
                "exporting (the file computes what the model predicts in eval mode)"
            )


def _example_arrays(example) -> list:
    items = list(example) if isinstance(example, tuple) else [example]
    if not items:
        raise ArgumentError("onnx.export: example_input is empty; give an array (or a tuple of arrays)")
    out = []
    for a in items:
        arr = a.data if isinstance(a, Tensor) else np.asarray(a)
        if arr.dtype.kind not in "fiub":
            raise ArgumentTypeError(f"onnx.export: example inputs must be numeric arrays, got dtype {arr.dtype}")
        out.append(np.array(arr))
    return out


def _other_batch(a: np.ndarray, dynamic: bool) -> np.ndarray:
    """The second run's input: the rows in reverse order, and one row more when the batch is dynamic."""
    if a.ndim == 0:
        return a.copy()
    b = a[::-1]
    if dynamic:
        b = np.concatenate([b, a[:1]], axis=0)
    return np.ascontiguousarray(b)


# ----------------------------------------------------------------------------- one recorded run
class _Run:
    """The model run once: its input leaves, its outputs (flattened) and what the layers' hooks saw."""

    def __init__(self, inputs, outputs, overrides, owners):
        self.inputs = inputs
        self.outputs = outputs
        self.overrides = overrides  # (id(node), index) -> (kind, module, input tensor, output tensor)
        self.owners = owners  # id(node) -> (module name, module): the innermost layer whose output it made


def _special(m, args):
    """The layers written as one ONNX operator: their kind, or None."""
    from . import nn

    if not args or not isinstance(args[0], Tensor):
        return None
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and not m.training and m.running_mean is not None:
        return "batch_norm"
    if isinstance(m, nn.Standardize):
        return "standardize"
    if isinstance(m, nn.PixelShuffle) and args[0].ndim == 4:
        return "pixel_shuffle"
    return None


def _record(model, arrays) -> _Run:
    inputs = [Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    overrides, owners = {}, {}

    def seen(name, m, args, out):
        if isinstance(out, Tensor) and out.grad_fn is not None:
            owners.setdefault(id(out.grad_fn), (name, m, out))  # (out keeps the node, and so its id, alive)
            kind = _special(m, args)
            if kind is not None:
                overrides[(id(out.grad_fn), out.output_nr)] = (kind, m, args[0], out)

    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: seen(name, mod, args, out))
        for name, m in model.named_modules()
    ]
    frozen = [p for p in model.parameters() if not p.requires_grad]  # recorded too while tracing (then frozen again)
    try:
        for p in frozen:
            p.requires_grad = True
        with enable_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for p in frozen:
            p.requires_grad = False
    return _Run(inputs, _flatten(out), overrides, owners)


def _flatten(out) -> list:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    raise UnsupportedError(
        f"onnx.export: the model returned a {type(out).__name__}; only Tensors (or tuples and lists of them) can be "
        "outputs of an ONNX graph"
    )


# ----------------------------------------------------------------------------- the graph walk
class _Op:
    """One thing to write: a recorded node, or a layer written as one operator. ``refs1``/``refs2``: its inputs
    in the two runs, each ("edge", op key, output index, tensor) or ("leaf", tensor)."""

    def __init__(self, key, kind, node, node2, refs1, refs2, module=None):
        self.key, self.kind, self.node, self.node2 = key, kind, node, node2
        self.refs1, self.refs2, self.module = refs1, refs2, module
        self.outs1, self.outs2 = {}, {}  # output index -> tensor (what its consumers received)
        self.names = {}  # output index -> ONNX value name

    @property
    def label(self) -> str:
        if self.kind != "node":
            return type(self.module).__name__
        return self.node.name


def _node_refs(node):
    refs = []
    nexts = node.next_functions
    for i, t in enumerate(node.inputs):
        fn, idx = nexts[i] if i < len(nexts) else (None, 0)
        if not isinstance(t, Tensor):
            t = Tensor(np.asarray(t))
        refs.append(("edge", fn, idx, t) if fn is not None else ("leaf", t))
    return refs


def _tensor_ref(t):
    return ("edge", t.grad_fn, t.output_nr, t) if t.grad_fn is not None else ("leaf", t)


class _Exporter:
    """Walks the recorded graph of run 1 (with run 2's beside it) and writes the ONNX graph."""

    def __init__(self, onnx, opset, model, run1, run2, names_in, names_out, dynamic):
        self.onnx, self.opset, self.model = onnx, opset, model
        self.run1, self.run2 = run1, run2
        self.names_in, self.names_out, self.dynamic = names_in, names_out, dynamic
        self.nodes, self.inits, self.init_names = [], [], set()
        self.const_ids = {}
        self.count = 0
        self.current = None
        self.ops = {}
        self.state = {}
        for name, arr in model.state_dict().items():
            self.state.setdefault(id(arr), name)
        for name, b in model.named_buffers():
            self.state.setdefault(id(b.data), name)
        self.used_inputs = set()

    # ------------------------------------------------------------------ names and nodes
    def fresh(self, hint: str = "v") -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def add(self, op_type: str, inputs, n_out: int = 1, **attrs):
        """Append an ONNX node; returns its output name (a list of names when ``n_out`` > 1)."""
        outs = [self.fresh(op_type) for _ in range(n_out)]
        doc = None
        if self.current is not None:
            doc = f"chainrule {self.current.label}"
        node = self.onnx.helper.make_node(
            op_type, list(inputs), outs, name=f"{op_type}_{self.count}", doc_string=doc, **attrs
        )
        self.nodes.append(node)
        return outs[0] if n_out == 1 else outs

    def initializer(self, name: str, arr) -> str:
        if name not in self.init_names:
            self.init_names.add(name)
            arr = np.asarray(arr)
            self.inits.append(self.onnx.numpy_helper.from_array(arr if arr.flags.c_contiguous else arr.copy(), name))
        return name

    def const(self, arr, dtype=None) -> str:
        """An initializer holding ``arr`` (small integer vectors and scalars are shared)."""
        arr = np.asarray(arr, dtype=dtype)
        if arr.size <= 16:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
        else:
            key = ("id", id(arr))
        kept = self.const_ids.get(key)
        if kept is None:  # (the array is kept with its name: its id stays its own while the export runs)
            kept = self.const_ids[key] = (arr, self.initializer(self.fresh("const"), arr))
        return kept[1]

    def ints(self, values) -> str:
        return self.const(np.asarray(list(values), np.int64))

    def scalar(self, v, dtype) -> str:
        return self.const(np.asarray(v, dtype))

    # ------------------------------------------------------------------ opset-dependent forms
    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.add(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.add(op_type, [x], axes=axes, keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes) -> str:
        return self.add("Unsqueeze", [x, self.ints(axes)])

    def squeeze(self, x: str, axes) -> str:
        return self.add("Squeeze", [x, self.ints(axes)])

    def slice(self, x: str, starts, ends, axes, steps=None) -> str:
        ins = [x, self.ints(starts), self.ints(ends), self.ints(axes)]
        if steps is not None:
            ins.append(self.ints(steps))
        return self.add("Slice", ins)

    def cast(self, x: str, have, want) -> str:
        if np.dtype(have) == np.dtype(want):
            return x
        return self.add("Cast", [x], to=self.elem_type(want))

    def elem_type(self, dtype) -> int:
        return int(self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # ------------------------------------------------------------------ the walk
    def op_for(self, ref1, ref2):
        """The _Op making the edge ``ref1`` (and ``ref2`` in run 2), and the output index it has there."""
        _, fn1, idx1, t1 = ref1
        if ref2[0] != "edge":
            raise self.differs(fn1.name)
        _, fn2, idx2, t2 = ref2
        over = self.run1.overrides.get((id(fn1), idx1))
        if over is not None:
            key, out = ("module", id(fn1), idx1), 0
        else:
            key, out = ("node", id(fn1)), idx1
        op = self.ops.get(key)
        if op is None:
            op = self.ops[key] = self.make_op(key, over, fn1, idx1, fn2, idx2)
        op.outs1[out] = t1
        op.outs2[out] = t2
        return op, out

    def make_op(self, key, over, fn1, idx1, fn2, idx2) -> _Op:
        if over is not None:
            kind, m, x1, y1 = over
            over2 = self.run2.overrides.get((id(fn2), idx2))
            if over2 is None or over2[1] is not m:
                raise self.differs(type(m).__name__)
            op = _Op(key, kind, fn1, fn2, [_tensor_ref(x1)], [_tensor_ref(over2[2])], module=m)
            return op
        if type(fn1) is not type(fn2) or len(fn1.inputs or ()) != len(fn2.inputs or ()):
            raise self.differs(fn1.name)
        if fn1.freed:
            raise UnsupportedError(
                "onnx.export: the recorded graph was freed by a backward pass during the model's forward; "
                "the model cannot be traced"
            )
        return _Op(key, "node", fn1, fn2, _node_refs(fn1), _node_refs(fn2))

    def differs(self, what: str) -> UnsupportedError:
        return UnsupportedError(
            f"onnx.export: the recorded graph is not the same for a batch of another size (at {what}): the model "
            "takes other paths for other batches (or for other values), which one ONNX graph cannot hold. Make "
            "the forward pass the same for every batch, or export with dynamic_batch=False"
        )

    def walk(self) -> list:
        """The ops that make the outputs, each after the ops making its inputs."""
        order, marked, stack = [], set(), []
        for t1, t2 in zip(self.run1.outputs, self.run2.outputs):
            if t1.grad_fn is not None:
                stack.append((self.op_for(_tensor_ref(t1), _tensor_ref(t2))[0], False))
        while stack:
            op, expanded = stack.pop()
            if expanded:
                order.append(op)
                continue
            if op.key in marked:
                continue
            marked.add(op.key)
            stack.append((op, True))
            for r1, r2 in zip(op.refs1, op.refs2):
                if r1[0] == "edge":
                    child, _ = self.op_for(r1, r2)
                    if child.key not in marked:
                        stack.append((child, False))
                elif r2[0] == "edge":
                    raise self.differs(op.label)
        return order

    # ------------------------------------------------------------------ inputs of an op
    def x(self, op: _Op, i: int) -> str:
        """The ONNX value of input ``i`` of ``op``."""
        r1, r2 = op.refs1[i], op.refs2[i]
        if r1[0] == "edge":
            child, out = self.op_for(r1, r2)
            name = child.names.get(out)
            if name is None:
                raise self.unsupported(child, f"its output {out} (only output 0 of it can be exported)")
            return name
        return self.leaf(op, r1[1], r2[1], f"input {i}")

    def leaf(self, op, t1: Tensor, t2: Tensor, what: str) -> str:
        for k, t in enumerate(self.run1.inputs):
            if t is t1:
                self.used_inputs.add(k)
                return self.names_in[k]
        name = self.state.get(id(t1.data))
        if name is not None:
            return self.initializer(name, t1.data)
        return self.constant(op, t1.data, t2.data, what)

    def constant(self, op, a1, a2, what: str) -> str:
        self.same_constant(op, a1, a2, what)
        return self.const(a1)

    def same_constant(self, op, a1, a2, what: str) -> None:
        a1, a2 = np.asarray(a1), np.asarray(a2)
        if a1.shape != a2.shape:
            raise UnsupportedError(
                f"onnx.export: {self.where(op)} holds a constant ({what}, shape {a1.shape}) whose shape changes "
                f"with the batch size ({a2.shape} for another batch): it was made from the input outside the "
                "recorded graph (zeros of the batch's size, a mask from its values). Compute it from the input with "
                "chainrule operations, or export with dynamic_batch=False if it only depends on the shape"
            )
        if not np.array_equal(a1, a2, equal_nan=a1.dtype.kind in "fc"):
            raise UnsupportedError(
                f"onnx.export: {self.where(op)} holds a constant ({what}, shape {a1.shape}) whose values change "
                "with the input's values: it was computed from the input outside the recorded graph (a mask, a "
                "comparison, a random draw), so the ONNX file could not compute it. Use recorded operations for it "
                "(cr.where on tensors, clamp), or keep it out of the exported model"
            )

    def is_zero_constant(self, op, i: int) -> bool:
        """Input ``i`` is a constant of zeros in both runs (not an input, parameter or computed value)."""
        r1, r2 = op.refs1[i], op.refs2[i]
        if r1[0] != "leaf" or r2[0] != "leaf":
            return False
        t1, t2 = r1[1], r2[1]
        if any(t is t1 for t in self.run1.inputs) or id(t1.data) in self.state:
            return False
        return not np.any(t1.data) and not np.any(t2.data)

    def index_input(self, op, a1, a2, what: str) -> str:
        """An integer index array the op holds: the graph's integer input when it is that input's values (in
        both runs), else a constant."""
        for k, (t1, t2) in enumerate(zip(self.run1.inputs, self.run2.inputs)):
            d1, d2 = t1.data, t2.data
            if d1.dtype.kind in "iu" and d1.shape == np.shape(a1) and d2.shape == np.shape(a2):
                if np.array_equal(d1, a1) and np.array_equal(d2, a2):
                    self.used_inputs.add(k)
                    return self.names_in[k]
        return self.constant(op, np.asarray(a1, np.int64), np.asarray(a2, np.int64), what)

    def shape(self, op, i: int):
        return tuple(op.refs1[i][-1].shape)

    def dyn(self, op, i: int) -> set:
        s1, s2 = op.refs1[i][-1].shape, op.refs2[i][-1].shape
        return {k for k, (a, b) in enumerate(zip(s1, s2)) if a != b}

    def dtype(self, op, i: int):
        return op.refs1[i][-1].dtype

    def out_shape(self, op, j: int = 0):
        return tuple(self.out_tensor(op, j, 1).shape)

    def out_dyn(self, op, j: int = 0) -> set:
        s1, s2 = self.out_tensor(op, j, 1).shape, self.out_tensor(op, j, 2).shape
        return {k for k, (a, b) in enumerate(zip(s1, s2)) if a != b}

    def out_dtype(self, op, j: int = 0):
        return self.out_tensor(op, j, 1).dtype

    def out_tensor(self, op, j: int, run: int):
        outs = op.outs1 if run == 1 else op.outs2
        if j not in outs:
            j = min(outs)  # (an output nobody reads: the shapes of another one)
        return outs[j]

    def same(self, op, v1, v2, what: str) -> None:
        if not _equal(v1, v2):
            raise UnsupportedError(
                f"onnx.export: {self.where(op)}'s {what} changes with the batch size ({_short(v1)} here, "
                f"{_short(v2)} for another batch): write it so it does not depend on the batch (e.g. negative "
                "indices from the end), or export with dynamic_batch=False"
            )

    # ------------------------------------------------------------------ errors
    def where(self, op) -> str:
        if op is None:
            return "the model's output"
        owner = self.run1.owners.get(id(op.node))
        text = f"the operation {op.label}"
        if op.kind == "node" and getattr(op.node, "formula", ""):
            text += f" ({op.node.formula.split('  ')[0]})"
        if owner is not None:
            text += f" in layer '{owner[0] or 'model'}' ({type(owner[1]).__name__})"
        return text

    def unsupported(self, op, why: str = "") -> UnsupportedError:
        what = f": {why}" if why else ""
        return UnsupportedError(
            f"onnx.export: {self.where(op)} has no ONNX counterpart in chainrule's exporter{what}. Write that part "
            "of the model with operations that export (chainrule.onnx.SUPPORTED lists them), or export the part "
            "of the model before it"
        )

    # ------------------------------------------------------------------ the whole graph
    def build(self):
        helper = self.onnx.helper
        order = self.walk()
        for op in order:
            self.current = op
            handler = _HANDLERS.get(op.kind) if op.kind != "node" else _handler_for(op.node)
            if handler is None:
                raise self.unsupported(op)
            handler(self, op)
        self.current = None
        outputs = self.outputs()
        missing_in = [self.names_in[k] for k in range(len(self.names_in)) if k not in self.used_inputs]
        if missing_in:
            raise UnsupportedError(
                f"onnx.export: the model's output does not depend on {', '.join(missing_in)} through recorded "
                "operations (it was used through .data, .numpy() or NumPy functions, or not at all), so the ONNX "
                "graph would ignore it. Use chainrule operations on the input"
            )
        inputs = [
            helper.make_tensor_value_info(name, self.elem_type(t1.dtype), self.dims(t1.shape, t2.shape))
            for name, t1, t2 in zip(self.names_in, self.run1.inputs, self.run2.inputs)
        ]
        graph = helper.make_graph(self.nodes, "chainrule", inputs, outputs, self.inits)
        opsets = [helper.make_opsetid("", self.opset)]
        proto = helper.make_model(graph, opset_imports=opsets, producer_name="chainrule", producer_version=_version())
        proto.ir_version = helper.find_min_ir_version_for(opsets)
        proto.doc_string = f"exported by chainrule {_version()} from {type(self.model).__name__}"
        try:
            self.onnx.checker.check_model(proto)
        except self.onnx.checker.ValidationError as e:  # pragma: no cover - a bug of the exporter
            raise ChainruleError(f"onnx.export: the ONNX graph written is not valid ({e}); please report it") from e
        return proto

    def dims(self, s1, s2) -> list:
        """An ONNX shape: the sizes that change with the batch are the symbolic 'batch' where they are the batch
        size itself, unnamed otherwise."""
        b1 = b2 = None
        if self.run1.inputs and self.run1.inputs[0].ndim:
            b1, b2 = self.run1.inputs[0].shape[0], self.run2.inputs[0].shape[0]
        return [int(a) if a == b else ("batch" if (a, b) == (b1, b2) else None) for a, b in zip(s1, s2)]

    def outputs(self) -> list:
        helper = self.onnx.helper
        infos, taken = [], set()
        for name, t1, t2 in zip(self.names_out, self.run1.outputs, self.run2.outputs):
            if t1.grad_fn is not None:
                op, j = self.op_for(_tensor_ref(t1), _tensor_ref(t2))
                value = op.names.get(j)
                if value is None:
                    raise self.unsupported(op, f"its output {j}")
            else:
                value = self.leaf(None, t1, t2, "an output")
            if value in taken or value in self.init_names or value in self.names_in:
                self.nodes.append(helper.make_node("Identity", [value], [name], name=f"Identity_{name}"))
            else:
                self.rename(value, name)
            taken.add(value)
            infos.append(helper.make_tensor_value_info(name, self.elem_type(t1.dtype), self.dims(t1.shape, t2.shape)))
        return infos

    def rename(self, old: str, new: str) -> None:
        for node in self.nodes:
            for seq in (node.input, node.output):
                for k, v in enumerate(seq):
                    if v == old:
                        seq[k] = new


def _version() -> str:
    import chainrule

    return chainrule.__version__


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and np.array_equal(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _short(v) -> str:
    text = repr(v.shape if isinstance(v, np.ndarray) else v)
    return text if len(text) < 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- the handlers
_BY_CLASS: dict = {}
_HANDLERS: dict = {}


def _handles(*classes):
    def register(fn):
        for c in classes:
            _BY_CLASS[c] = fn
        return fn

    return register


def _handler_for(node):
    """The handler of the node's own class (a subclass may compute something else: it has none unless listed)."""
    return _BY_CLASS.get(type(node))


def _binary(onnx_op):
    def write(e: _Exporter, op: _Op) -> None:
        want = e.out_dtype(op)
        a = e.cast(e.x(op, 0), e.dtype(op, 0), want)
        b = e.cast(e.x(op, 1), e.dtype(op, 1), want)
        op.names[0] = e.add(onnx_op, [a, b])

    return write


def _unary(*onnx_ops):
    def write(e: _Exporter, op: _Op) -> None:
        v = e.x(op, 0)
        for name in onnx_ops:
            v = e.add(name, [v])
        op.names[0] = v

    return write


for _cls, _onnx_op in (
    (ops.Add, "Add"),
    (ops.Sub, "Sub"),
    (ops.Mul, "Mul"),
    (ops.Div, "Div"),
    (ops.Pow, "Pow"),
    (ops.Maximum, "Max"),
    (ops.Minimum, "Min"),
):
    _BY_CLASS[_cls] = _binary(_onnx_op)

for _cls, _onnx_ops in (
    (ops.Neg, ("Neg",)),
    (ops.Exp, ("Exp",)),
    (ops.Log, ("Log",)),
    (ops.Sqrt, ("Sqrt",)),
    (ops.Abs, ("Abs",)),
    (ops.Sin, ("Sin",)),
    (ops.Cos, ("Cos",)),
    (ops.TanhOp, ("Tanh",)),
    (ops.SigmoidOp, ("Sigmoid",)),
    (ops.ReLUOp, ("Relu",)),
    (ops.SoftplusOp, ("Softplus",)),
    (ops.SoftsignOp, ("Softsign",)),
    (ops.HardswishOp, ("HardSwish",)),
    (ops.LogSigmoidOp, ("Neg", "Softplus", "Neg")),
    (ops.Erf, ("Erf",)),
    (ops.Floor, ("Floor",)),
    (ops.Ceil, ("Ceil",)),
    (ops.Sign, ("Sign",)),
    (ops.Reciprocal, ("Reciprocal",)),
    (ops.Rsqrt, ("Sqrt", "Reciprocal")),
    (ops.Tan, ("Tan",)),
    (ops.Asin, ("Asin",)),
    (ops.Acos, ("Acos",)),
    (ops.Atan, ("Atan",)),
    (ops.Sinh, ("Sinh",)),
    (ops.Cosh, ("Cosh",)),
    (ops.Asinh, ("Asinh",)),
    (ops.Acosh, ("Acosh",)),
    (ops.Atanh, ("Atanh",)),
):
    _BY_CLASS[_cls] = _unary(*_onnx_ops)


@_handles(ops.PowScalar)
def _pow_scalar(e, op):
    p, x = op.node.p, e.x(op, 0)
    dt = e.dtype(op, 0)
    if p == 1:
        op.names[0] = e.add("Identity", [x])
    elif p == 2:
        op.names[0] = e.add("Mul", [x, x])
    elif p == 0.5:
        op.names[0] = e.add("Sqrt", [x])
    elif p == -0.5:
        op.names[0] = e.add("Reciprocal", [e.add("Sqrt", [x])])
    else:
        op.names[0] = e.add("Pow", [x, e.scalar(p, dt)])


@_handles(ops.Log1p)
def _log1p(e, op):
    op.names[0] = e.add("Log", [e.add("Add", [e.x(op, 0), e.scalar(1, e.dtype(op, 0))])])


@_handles(ops.Expm1)
def _expm1(e, op):
    op.names[0] = e.add("Sub", [e.add("Exp", [e.x(op, 0)]), e.scalar(1, e.dtype(op, 0))])


@_handles(ops.Log2, ops.Log10)
def _log_base(e, op):
    base = 2.0 if isinstance(op.node, ops.Log2) else 10.0
    op.names[0] = e.add("Div", [e.add("Log", [e.x(op, 0)]), e.scalar(math.log(base), e.dtype(op, 0))])


@_handles(ops.Round)
def _round(e, op):
    if op.node.decimals:
        scale = e.scalar(10.0**op.node.decimals, e.dtype(op, 0))
        op.names[0] = e.add("Div", [e.add("Round", [e.add("Mul", [e.x(op, 0), scale])]), scale])
    else:
        op.names[0] = e.add("Round", [e.x(op, 0)])


@_handles(ops.Trunc)
def _trunc(e, op):
    x = e.x(op, 0)
    op.names[0] = e.add("Mul", [e.add("Sign", [x]), e.add("Floor", [e.add("Abs", [x])])])


@_handles(ops.LeakyReLUOp)
def _leaky_relu(e, op):
    op.names[0] = e.add("LeakyRelu", [e.x(op, 0)], alpha=float(op.node.slope))


@_handles(ops.Clip)
def _clip(e, op):
    dt = e.dtype(op, 0)
    lo = "" if op.node.lo is None else e.scalar(op.node.lo, dt)
    hi = "" if op.node.hi is None else e.scalar(op.node.hi, dt)
    op.names[0] = e.add("Clip", [e.x(op, 0), lo, hi])


@_handles(ops.HardtanhOp)
def _hardtanh(e, op):
    dt = e.dtype(op, 0)
    op.names[0] = e.add("Clip", [e.x(op, 0), e.scalar(op.node.min_val, dt), e.scalar(op.node.max_val, dt)])


@_handles(ops.HardsigmoidOp)
def _hardsigmoid(e, op):
    op.names[0] = e.add("HardSigmoid", [e.x(op, 0)], alpha=1.0 / 6.0, beta=0.5)


@_handles(ops.Where)
def _where(e, op):
    cond = e.constant(op, op.node.cond, op.node2.cond, "the condition")
    want = e.out_dtype(op)
    a = e.cast(e.x(op, 0), e.dtype(op, 0), want)
    b = e.cast(e.x(op, 1), e.dtype(op, 1), want)
    op.names[0] = e.add("Where", [cond, a, b])


@_handles(ops.MaskedFill)
def _masked_fill(e, op):
    mask = e.constant(op, op.node.mask, op.node2.mask, "the mask")
    dt = e.dtype(op, 0)
    if len(op.refs1) > 1:
        fill = e.cast(e.x(op, 1), e.dtype(op, 1), dt)
    else:
        e.same(op, op.node.value, op.node2.value, "fill value")
        fill = e.scalar(op.node.value, dt)
    op.names[0] = e.add("Where", [mask, fill, e.x(op, 0)])


@_handles(ops.AsType)
def _astype(e, op):
    op.names[0] = e.add("Cast", [e.x(op, 0)], to=e.elem_type(op.node.dtype))


# --------------------------------------------------------------------------- activations
@_handles(ops.GELUOp)
def _gelu(e, op):
    x, dt = e.x(op, 0), e.dtype(op, 0)
    tanh = op.node.approximate == "tanh"
    if e.opset >= 20:
        op.names[0] = e.add("Gelu", [x], approximate="tanh" if tanh else "none")
        return
    half, one = e.scalar(0.5, dt), e.scalar(1.0, dt)
    if tanh:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = e.add("Mul", [e.add("Mul", [x, x]), x])
        inner = e.add("Add", [x, e.add("Mul", [cube, e.scalar(0.044715, dt)])])
        t = e.add("Tanh", [e.add("Mul", [inner, e.scalar(math.sqrt(2 / math.pi), dt)])])
        op.names[0] = e.add("Mul", [e.add("Mul", [x, half]), e.add("Add", [t, one])])
    else:  # x * 0.5 * (1 + erf(x / sqrt(2)))
        erf = e.add("Erf", [e.add("Mul", [x, e.scalar(math.sqrt(0.5), dt)])])
        op.names[0] = e.add("Mul", [e.add("Mul", [x, half]), e.add("Add", [erf, one])])


@_handles(ops.ELUOp, ops.SELUOp, ops.CELUOp)
def _elu(e, op):
    n, x, dt = op.node, e.x(op, 0), e.dtype(op, 0)
    if isinstance(n, ops.SELUOp):
        op.names[0] = e.add("Selu", [x], alpha=float(n.alpha), gamma=float(n.scale))
    elif isinstance(n, ops.CELUOp):
        op.names[0] = e.add("Celu", [x], alpha=float(n.alpha))
    elif n.scale == 1 and n.input_scale == 1:
        op.names[0] = e.add("Elu", [x], alpha=float(n.alpha))
    else:  # scale * elu(x * input_scale, alpha) / input_scale-free form: compose
        pos = e.add("Mul", [e.add("Relu", [x]), e.scalar(n.scale, dt)])
        neg = e.add("Min", [x, e.scalar(0, dt)])
        ex = e.add("Sub", [e.add("Exp", [e.add("Mul", [neg, e.scalar(n.input_scale, dt)])]), e.scalar(1, dt)])
        op.names[0] = e.add("Add", [pos, e.add("Mul", [ex, e.scalar(n.alpha * n.scale, dt)])])


@_handles(ops.SiLUOp)
def _silu(e, op):
    x = e.x(op, 0)
    op.names[0] = e.add("Mul", [x, e.add("Sigmoid", [x])])


@_handles(ops.MishOp)
def _mish(e, op):
    x = e.x(op, 0)
    if e.opset >= 18:
        op.names[0] = e.add("Mish", [x])
    else:
        op.names[0] = e.add("Mul", [x, e.add("Tanh", [e.add("Softplus", [x])])])


@_handles(ops.GLUOp)
def _glu(e, op):
    x, dim = e.x(op, 0), op.node.dim
    n = e.shape(op, 0)[dim]
    if dim in e.dyn(op, 0):
        raise e.unsupported(op, "it halves the batch dimension")
    a = e.slice(x, [0], [n // 2], [dim])
    b = e.slice(x, [n // 2], [n], [dim])
    op.names[0] = e.add("Mul", [a, e.add("Sigmoid", [b])])


# --------------------------------------------------------------------------- products
@_handles(ops.Matmul)
def _matmul(e, op):
    op.names[0] = e.add("MatMul", [e.x(op, 0), e.x(op, 1)])


@_handles(ops.LinearOp)
def _linear(e, op):
    x, w = e.x(op, 0), e.x(op, 1)
    b = e.x(op, 2) if len(op.refs1) > 2 else None
    if len(e.shape(op, 0)) == 2:
        op.names[0] = e.add("Gemm", [x, w] + ([b] if b else []), transB=1)
        return
    y = e.add("MatMul", [x, e.add("Transpose", [w], perm=[1, 0])])
    op.names[0] = e.add("Add", [y, b]) if b else y


@_handles(ops.Einsum)
def _einsum(e, op):
    eq = ",".join(op.node.terms) + "->" + op.node.out
    op.names[0] = e.add("Einsum", [e.x(op, i) for i in range(len(op.refs1))], equation=eq)


# --------------------------------------------------------------------------- reductions and softmax
def _reduction(onnx_op):
    def write(e, op):
        axes, keep = op.node.axes, op.node.keepdims
        if not axes:
            op.names[0] = e.add("Identity", [e.x(op, 0)])
        else:
            op.names[0] = e.reduce(onnx_op, e.x(op, 0), axes, keep)

    return write


for _cls, _onnx_op in (
    (ops.Sum, "ReduceSum"),
    (ops.Mean, "ReduceMean"),
    (ops.AMax, "ReduceMax"),
    (ops.AMin, "ReduceMin"),
    (ops.Norm2, "ReduceL2"),
    (ops.LogSumExp, "ReduceLogSumExp"),
):
    _BY_CLASS[_cls] = _reduction(_onnx_op)


@_handles(ops.MaxDim, ops.MinDim)
def _max_dim(e, op):
    kind = "ReduceMin" if isinstance(op.node, ops.MinDim) else "ReduceMax"
    op.names[0] = e.reduce(kind, e.x(op, 0), [op.node.axis], op.node.keepdim)


@_handles(ops.Prod)
def _prod(e, op):
    nd = len(e.shape(op, 0))
    axes = list(range(nd)) if op.node.dim is None else [op.node.dim]
    if not axes:
        op.names[0] = e.add("Identity", [e.x(op, 0)])
    else:
        op.names[0] = e.reduce("ReduceProd", e.x(op, 0), axes, op.node.keepdim)


def _count(e, op, x: str, axes) -> str:
    """The number of elements over ``axes`` of input 0, as a scalar of its dtype (computed from the shape when
    an axis is dynamic)."""
    shape, dt = e.shape(op, 0), e.dtype(op, 0)
    if not (set(axes) & e.dyn(op, 0)):
        return e.scalar(math.prod(shape[a] for a in axes), dt)
    sizes = e.add("Gather", [e.add("Shape", [x]), e.ints(axes)], axis=0)
    return e.add("Cast", [e.reduce("ReduceProd", sizes, [0], False)], to=e.elem_type(dt))


@_handles(ops.Var, ops.Std)
def _var(e, op):  # Std is a Var too
    n = op.node
    x, axes = e.x(op, 0), list(n.axes)
    if not axes:
        raise e.unsupported(op, "a variance over no axes")
    d = e.add("Sub", [x, e.reduce("ReduceMean", x, axes, True)])
    s = e.reduce("ReduceSum", e.add("Mul", [d, d]), axes, n.keepdims)
    dof = e.add("Sub", [_count(e, op, x, axes), e.scalar(n.ddof, e.dtype(op, 0))])
    v = e.add("Div", [s, dof])
    op.names[0] = e.add("Sqrt", [v]) if isinstance(n, ops.Std) else v


@_handles(ops.SoftmaxOp)
def _softmax(e, op):
    op.names[0] = e.add("Softmax", [e.x(op, 0)], axis=int(op.node.axis))


@_handles(ops.LogSoftmaxOp)
def _log_softmax(e, op):
    op.names[0] = e.add("LogSoftmax", [e.x(op, 0)], axis=int(op.node.axis))


@_handles(ops.CumSum)
def _cumsum(e, op):
    op.names[0] = e.add("CumSum", [e.x(op, 0), e.const(np.asarray(op.node.dim, np.int64))])


# --------------------------------------------------------------------------- shapes
def _target(in1, in2, out1, out2, what):
    """An ONNX Reshape/Expand target for output shape ``out1`` (``out2`` in run 2): the dynamic dimensions as 0
    (the input's own, same position) or one -1; None if it cannot be written."""
    t = [int(v) for v in out1]
    rest = []
    for k, (a, b) in enumerate(zip(out1, out2)):
        if a == b:
            continue
        if k < len(in1) and in1[k] == a and in2[k] == b and what == "reshape":
            t[k] = 0
        else:
            rest.append(k)
    if len(rest) > 1:
        return None
    if rest:
        t[rest[0]] = -1
    return t


@_handles(ops.Reshape)
def _reshape(e, op):
    in1, in2 = e.shape(op, 0), op.refs2[0][-1].shape
    out1, out2 = e.out_shape(op), tuple(e.out_tensor(op, 0, 2).shape)
    t = _target(in1, in2, out1, out2, "reshape")
    if t is None or (0 in [v for k, v in enumerate(t) if out1[k] == 0]):
        raise e.unsupported(op, f"a reshape to {out1} with more than one dimension that changes with the batch")
    op.names[0] = e.add("Reshape", [e.x(op, 0), e.ints(t)])


@_handles(ops.Transpose)
def _transpose(e, op):
    axes = op.node.axes
    nd = len(e.shape(op, 0))
    perm = list(range(nd - 1, -1, -1)) if axes is None else [int(a) for a in axes]
    op.names[0] = e.add("Transpose", [e.x(op, 0)], perm=perm)


@_handles(ops.BroadcastTo)
def _broadcast_to(e, op):
    in1, in2 = e.shape(op, 0), op.refs2[0][-1].shape
    out1, out2 = e.out_shape(op), tuple(e.out_tensor(op, 0, 2).shape)
    lead = len(out1) - len(in1)
    t = [int(v) for v in out1]
    for k, (a, b) in enumerate(zip(out1, out2)):
        if a != b:
            j = k - lead
            if j < 0 or in1[j] != a or in2[j] != b:
                raise e.unsupported(op, "it broadcasts to a size that changes with the batch")
            t[k] = 1
    op.names[0] = e.add("Expand", [e.x(op, 0), e.ints(t)])


@_handles(ops.Concatenate)
def _concat(e, op):
    want = e.out_dtype(op)
    xs = [e.cast(e.x(op, i), e.dtype(op, i), want) for i in range(len(op.refs1))]
    op.names[0] = e.add("Concat", xs, axis=int(op.node.axis))


@_handles(ops.Stack)
def _stack(e, op):
    want = e.out_dtype(op)
    xs = [e.unsqueeze(e.cast(e.x(op, i), e.dtype(op, i), want), [op.node.axis]) for i in range(len(op.refs1))]
    op.names[0] = e.add("Concat", xs, axis=int(op.node.axis))


@_handles(ops.Split)
def _split(e, op):
    n = op.node
    e.same(op, n.sections, op.node2.sections, "sections")
    axis = n.axis
    if axis in e.dyn(op, 0):
        raise e.unsupported(op, "it splits the batch dimension")
    size = e.shape(op, 0)[axis]
    if isinstance(n.sections, (int, np.integer)):
        each, extra = divmod(size, int(n.sections))
        sizes = [each + 1] * extra + [each] * (int(n.sections) - extra)
        bounds = [int(b) for b in np.cumsum(sizes)[:-1]]
    else:
        bounds = [min(max(int(b), 0), size) for b in n.sections]
    edges = [0] + bounds + [size]
    x = e.x(op, 0)
    for j in range(n.n_outputs):
        op.names[j] = e.slice(x, [edges[j]], [max(edges[j], edges[j + 1])], [axis])


@_handles(ops.Unbind)
def _unbind(e, op):
    x, dim = e.x(op, 0), op.node.dim
    for j in range(op.node.n_outputs):
        op.names[j] = e.add("Gather", [x, e.const(np.asarray(j, np.int64))], axis=int(dim))


@_handles(ops.Flip)
def _flip(e, op):
    dims = [int(d) for d in op.node.dims]
    k = len(dims)
    op.names[0] = e.slice(e.x(op, 0), [-1] * k, [_INT_MIN] * k, dims, [-1] * k)


@_handles(ops.Repeat)
def _repeat(e, op):
    reps = [int(r) for r in op.node.reps]
    x = e.x(op, 0)
    nd = len(e.shape(op, 0))
    if len(reps) > nd:
        x = e.unsqueeze(x, list(range(len(reps) - nd)))
    elif len(reps) < nd:
        reps = [1] * (nd - len(reps)) + reps
    op.names[0] = e.add("Tile", [x, e.ints(reps)])


@_handles(ops.Tril, ops.Triu)
def _trilu(e, op):
    upper = int(isinstance(op.node, ops.Triu))
    k = e.const(np.asarray(op.node.diagonal, np.int64))
    op.names[0] = e.add("Trilu", [e.x(op, 0), k], upper=upper)


@_handles(ops.Roll)
def _roll(e, op):
    n = op.node
    if n.dims is None:
        raise e.unsupported(op, "a roll of the flattened tensor (give dims)")
    v = e.x(op, 0)
    shape = e.shape(op, 0)
    for s, d in zip(n.shifts, n.dims):
        if d in e.dyn(op, 0):
            raise e.unsupported(op, "it rolls the batch dimension")
        s = int(s) % shape[d] if shape[d] else 0
        if s:
            tail = e.slice(v, [shape[d] - s], [shape[d]], [d])
            head = e.slice(v, [0], [shape[d] - s], [d])
            v = e.add("Concat", [tail, head], axis=int(d))
    op.names[0] = v if v != e.x(op, 0) else e.add("Identity", [v])


@_handles(ops.GetItem)
def _getitem(e, op):
    index1, index2 = op.node.index, op.node2.index
    items1 = index1 if isinstance(index1, tuple) else (index1,)
    items2 = index2 if isinstance(index2, tuple) else (index2,)
    arrays = [k for k, it in enumerate(items1) if isinstance(it, np.ndarray) or isinstance(it, list)]
    plain = [it for k, it in enumerate(items1) if k not in arrays]
    e.same(op, plain, [it for k, it in enumerate(items2) if k not in arrays], "index")
    nd = len(e.shape(op, 0))
    expanded = _expand_index(items1, nd)
    if arrays:
        _advanced(e, op, expanded, items2)
        return
    axes, starts, ends, steps, ints, nones = [], [], [], [], [], []
    axis = pos = 0
    for it in expanded:
        if it is None:
            nones.append(pos)
            pos += 1
            continue
        if isinstance(it, slice):
            if it != slice(None):
                step = 1 if it.step is None else int(it.step)
                lo, hi = (0, _INT_MAX) if step > 0 else (_INT_MAX, _INT_MIN)
                axes.append(axis)
                starts.append(lo if it.start is None else int(it.start))
                ends.append(hi if it.stop is None else int(it.stop))
                steps.append(step)
            pos += 1
        else:
            i = int(it)
            axes.append(axis)
            starts.append(i)
            ends.append(i + 1 if i != -1 else _INT_MAX)
            steps.append(1)
            ints.append(axis)
        axis += 1
    v = e.x(op, 0)
    if axes:
        v = e.slice(v, starts, ends, axes, steps)
    if ints:
        v = e.squeeze(v, ints)
    if nones:
        v = e.unsqueeze(v, nones)
    op.names[0] = v if v != e.x(op, 0) else e.add("Identity", [v])


def _expand_index(items, nd: int) -> list:
    """The index items with ``...`` replaced by full slices, and full slices added for the dimensions not indexed."""

    def width(it):
        if it is None or it is Ellipsis:
            return 0
        a = it if isinstance(it, np.ndarray) else None
        return a.ndim if a is not None and a.dtype == bool else 1

    used = sum(width(it) for it in items)
    out = []
    for it in items:
        out += [slice(None)] * (nd - used) if it is Ellipsis else [it]
    if Ellipsis not in [it for it in items if not isinstance(it, np.ndarray)]:
        out += [slice(None)] * (nd - used)
    return out


def _advanced(e, op, expanded, items2):
    """x[..., index, ...] with one integer (or boolean) array and full slices elsewhere: a Gather."""
    arrays = [k for k, it in enumerate(expanded) if isinstance(it, (np.ndarray, list))]
    others = [it for k, it in enumerate(expanded) if k not in arrays]
    if len(arrays) != 1 or any(it != slice(None) for it in others):
        raise e.unsupported(op, "indexing with several index arrays, or an index array beside ints, None or slices")
    k = arrays[0]
    a1 = np.asarray(expanded[k])
    a2 = np.asarray([it for it in items2 if isinstance(it, (np.ndarray, list))][0])
    if a1.dtype == bool:
        if a1.ndim != 1:
            raise e.unsupported(op, "a boolean mask of more than one dimension")
        a1, a2 = np.nonzero(a1)[0], np.nonzero(a2)[0]
    idx = e.index_input(op, a1, a2, "the index")
    op.names[0] = e.add("Gather", [e.x(op, 0), idx], axis=int(k))


@_handles(ops.Pad)
def _pad(e, op):
    n = op.node
    e.same(op, n.widths, op.node2.widths, "padding")
    x, dt = e.x(op, 0), e.dtype(op, 0)
    widths = [(int(a), int(b)) for a, b in n.widths]
    if n.mode == "circular" and e.opset < 19:
        op.names[0] = _circular(e, op, x, widths)
        return
    if n.mode != "constant" and any(a < 0 or b < 0 for a, b in widths):
        raise e.unsupported(op, f"negative padding in mode {n.mode!r}")
    pads = e.ints([a for a, _ in widths] + [b for _, b in widths])
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[n.mode]
    ins = [x, pads] + ([e.scalar(n.value, dt)] if n.mode == "constant" else [])
    op.names[0] = e.add("Pad", ins, mode=mode)


def _circular(e, op, x, widths):
    """Wrap-around padding as slices and concatenations (ONNX's Pad has mode 'wrap' from opset 19)."""
    shape = e.shape(op, 0)
    v = x
    for d, (a, b) in enumerate(widths):
        if (a, b) == (0, 0):
            continue
        if a < 0 or b < 0 or a > shape[d] or b > shape[d]:
            raise e.unsupported(op, "circular padding that cuts, or pads more than the dimension's size")
        parts = ([e.slice(v, [shape[d] - a], [shape[d]], [d])] if a else []) + [v]
        parts += [e.slice(v, [0], [b], [d])] if b else []
        v = e.add("Concat", parts, axis=d)
    return v


# --------------------------------------------------------------------------- indexing
@_handles(ops.EmbeddingOp)
def _embedding(e, op):
    idx = e.index_input(op, op.node.indices, op.node2.indices, "the indices")
    op.names[0] = e.add("Gather", [e.x(op, 0), idx], axis=0)


@_handles(ops.IndexSelect)
def _index_select(e, op):
    idx = e.index_input(op, op.node.index, op.node2.index, "the index")
    op.names[0] = e.add("Gather", [e.x(op, 0), idx], axis=int(op.node.dim))


@_handles(ops.Gather)
def _gather_elements(e, op):
    idx = e.index_input(op, op.node.index, op.node2.index, "the index")
    op.names[0] = e.add("GatherElements", [e.x(op, 0), idx], axis=int(op.node.dim))


@_handles(ops.TopK)
def _topk(e, op):
    n = op.node
    k = e.ints([n.k])
    values, _ = e.add("TopK", [e.x(op, 0), k], 2, axis=int(n.dim), largest=int(bool(n.largest)), sorted=1)
    op.names[0] = values


@_handles(ops.Sort)
def _sort(e, op):
    n = op.node
    size = e.shape(op, 0)[n.dim]
    if n.dim in e.dyn(op, 0):
        raise e.unsupported(op, "it sorts along the batch dimension")
    values, _ = e.add(
        "TopK", [e.x(op, 0), e.ints([size])], 2, axis=int(n.dim), largest=int(bool(n.descending)), sorted=1
    )
    op.names[0] = values


# --------------------------------------------------------------------------- network layers
@_handles(ops.DropoutOp, ops.FeatureDropoutOp)
def _dropout(e, op):
    raise UnsupportedError(
        f"onnx.export: {e.where(op)} is dropout in training mode (a random mask): call model.eval() before "
        "exporting (in eval mode dropout records nothing)"
    )


@_handles(ops.BatchNormOp)
def _batch_norm_train(e, op):
    raise UnsupportedError(
        f"onnx.export: {e.where(op)} normalises with the batch's own statistics (training mode, or a BatchNorm "
        "with track_running_stats=False): call model.eval() first; a BatchNorm without running statistics "
        "cannot be exported"
    )


@_handles(ops.LayerNormOp)
def _layer_norm(e, op):
    n = op.node
    shape = e.shape(op, 0)
    norm_shape = shape[len(shape) - n.k :]
    dt = e.dtype(op, 0)
    k = 1
    if n.has_weight:
        scale = e.x(op, k)
        k += 1
    else:
        scale = e.const(np.ones(norm_shape, dt))
    ins = [e.x(op, 0), scale] + ([e.x(op, k)] if n.has_bias else [])
    op.names[0] = e.add("LayerNormalization", ins, axis=-int(n.k), epsilon=float(n.eps))


@_handles(ops.GroupNormOp)
def _group_norm(e, op):
    n = op.node
    x, dt = e.x(op, 0), e.dtype(op, 0)
    shape = e.shape(op, 0)
    g = int(n.groups)
    grouped = e.add("Reshape", [x, e.ints([0, g, -1])])
    ones, zeros = e.const(np.ones(g, dt)), e.const(np.zeros(g, dt))
    normed = e.add("InstanceNormalization", [grouped, ones, zeros], epsilon=float(n.eps))
    y = e.add("Reshape", [normed, e.add("Shape", [x])])
    trailing = list(range(1, len(shape) - 1))
    k = 1
    if n.has_weight:
        w = e.x(op, k)
        k += 1
        y = e.add("Mul", [y, e.unsqueeze(w, trailing) if trailing else w])
    if n.has_bias:
        b = e.x(op, k)
        y = e.add("Add", [y, e.unsqueeze(b, trailing) if trailing else b])
    op.names[0] = y


def _batch_norm_layer(e, op):
    m = op.module
    x = e.x(op, 0)
    c = m.num_features
    dt = op.refs1[0][-1].dtype

    def param(name, default):
        t = getattr(m, name)
        if t is None:
            return e.const(np.full(c, default, dt))
        return e.initializer(e.state.get(id(t.data), name), t.data)

    ins = [x, param("weight", 1.0), param("bias", 0.0), param("running_mean", 0.0), param("running_var", 1.0)]
    op.names[0] = e.add("BatchNormalization", ins, epsilon=float(m.eps))


def _standardize_layer(e, op):
    m = op.module
    mean = e.initializer(e.state.get(id(m.mean.data), "mean"), m.mean.data)
    std = e.initializer(e.state.get(id(m.std.data), "std"), m.std.data)
    op.names[0] = e.add("Mul", [e.add("Sub", [e.x(op, 0), mean]), e.add("Reciprocal", [std])])


def _pixel_shuffle_layer(e, op):
    op.names[0] = e.add("DepthToSpace", [e.x(op, 0)], blocksize=int(op.module.upscale_factor), mode="CRD")


_HANDLERS.update(batch_norm=_batch_norm_layer, standardize=_standardize_layer, pixel_shuffle=_pixel_shuffle_layer)


# --------------------------------------------------------------------------- convolution
@_handles(ops.ConvOp)
def _conv(e, op):
    n = op.node
    w_shape = e.shape(op, 1)
    ins = [e.x(op, i) for i in range(len(op.refs1))]
    op.names[0] = e.add(
        "Conv",
        ins,
        kernel_shape=[int(k) for k in w_shape[2:]],
        strides=[int(s) for s in n.stride],
        pads=[int(lo) for lo, _ in n.pads] + [int(hi) for _, hi in n.pads],
        dilations=[int(d) for d in n.dilation],
        group=int(n.groups),
    )


@_handles(ops.ConvTransposeOp)
def _conv_transpose(e, op):
    n = op.node
    x_shape, w_shape = e.shape(op, 0), e.shape(op, 1)
    kernel = w_shape[2:]
    ends, extra = [], []
    for i, s, d, k, lo, o in zip(x_shape[2:], n.stride, n.dilation, kernel, n.lo, n.out_spatial):
        full = (i - 1) * s + d * (k - 1) + 1
        end = full - lo - o
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    attrs = {
        "kernel_shape": [int(k) for k in kernel],
        "strides": [int(s) for s in n.stride],
        "pads": [int(lo) for lo in n.lo] + ends,
        "dilations": [int(d) for d in n.dilation],
        "group": int(n.groups),
    }
    if any(extra):
        attrs["output_padding"] = extra
    op.names[0] = e.add("ConvTranspose", [e.x(op, i) for i in range(len(op.refs1))], **attrs)


# --------------------------------------------------------------------------- pooling and resampling
def _batched(e, op, x: str, nd: int):
    """(x with a leading axis added when it has only one axis before its ``nd`` spatial ones, whether added)."""
    rank = len(e.shape(op, 0))
    if rank == nd + 2:
        return x, False
    if rank == nd + 1:
        return e.unsqueeze(x, [0]), True
    raise e.unsupported(op, f"a pool over an input of shape {e.shape(op, 0)}")


def _pool_out(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


@_handles(ops.MaxPoolOp)
def _max_pool(e, op):
    n = op.node
    nd = n.nd
    k, s, p, d, out = (list(t)[-nd:] for t in (n.k, n.s, n.p, n.d, n.out))
    spatial = e.shape(op, 0)[-nd:]
    plain = [_pool_out(*a, False) for a in zip(spatial, k, s, p, d)]
    onnx_ceil = [_pool_out(*a, True) for a in zip(spatial, k, s, p, d)]
    ends, ceil = list(p), 0
    if out != plain:
        if out == onnx_ceil:
            ceil = 1
        else:  # PyTorch drops a last window that would start in the padding: pad the end explicitly instead
            ends = [max(pi, (o - 1) * si + di * (ki - 1) + 1 - ni - pi) for ni, ki, si, pi, di, o in zip(
                spatial, k, s, p, d, out)]  # fmt: skip
    x, added = _batched(e, op, e.x(op, 0), nd)
    y = e.add("MaxPool", [x], kernel_shape=k, strides=s, pads=p + ends, dilations=d, ceil_mode=ceil)
    op.names[0] = e.squeeze(y, [0]) if added else y


def _divisors(n, k, s, p, out, count_include_pad):
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


@_handles(ops.AvgPoolOp)
def _avg_pool(e, op):
    n = op.node
    nd = n.nd
    k, s, p, out = (list(t)[-nd:] for t in (n.k, n.s, n.p, n.out))
    spatial = e.shape(op, 0)[-nd:]
    plain = [_pool_out(ni, ki, si, pi, 1, False) for ni, ki, si, pi in zip(spatial, k, s, p)]
    inv = np.asarray(n.inv_div, np.float64)
    x, added = _batched(e, op, e.x(op, 0), nd)
    found = None
    for cip in (True, False):
        divs = [_divisors(*a, cip) for a in zip(spatial, k, s, p, out)]
        div = divs[0] if nd == 1 else divs[0][:, None] * divs[1][None, :]
        if np.allclose(inv * div, 1.0, rtol=1e-9, atol=0):
            found = cip
            break
    onnx_ceil = [_pool_out(ni, ki, si, pi, 1, True) for ni, ki, si, pi in zip(spatial, k, s, p)]
    if found is not None and (out == plain or out == onnx_ceil):
        y = e.add(
            "AveragePool",
            [x],
            kernel_shape=k,
            strides=s,
            pads=p + p,
            ceil_mode=int(out != plain),
            count_include_pad=int(found),
        )
    else:  # the window sums (zeros padded up to every window's end) times the divisors the op holds
        ends = [max(pi, (o - 1) * si + ki - ni - pi) for ni, ki, si, pi, o in zip(spatial, k, s, p, out)]
        mean = e.add("AveragePool", [x], kernel_shape=k, strides=s, pads=p + ends, count_include_pad=1)
        dt = e.dtype(op, 0)
        factor = np.broadcast_to(inv, tuple(out)) * math.prod(k)
        y = e.add("Mul", [mean, e.const(np.asarray(factor, dt))])
    op.names[0] = e.squeeze(y, [0]) if added else y


def _pooled_axes(mh, mw):
    return ([-2] if mh is not None else []) + ([-1] if mw is not None else [])


@_handles(ops.AdaptiveAvgPoolOp)
def _adaptive_avg(e, op):
    n = op.node
    shape = e.shape(op, 0)
    mats = [m for m in (n.mh, n.mw) if m is not None]
    axes = _pooled_axes(n.mh, n.mw)
    x = e.x(op, 0)
    if not mats:
        op.names[0] = e.add("Identity", [x])
        return
    sizes = [shape[a] for a in axes]
    outs = [m.shape[0] for m in mats]
    nd = len(axes)
    if all(o == 1 for o in outs):
        rest = shape[2:] if len(shape) == nd + 2 else None
        if rest is not None and all(shape[a] == 1 for a in range(2, len(shape)) if a - len(shape) not in axes):
            op.names[0] = e.add("GlobalAveragePool", [x])
        else:
            op.names[0] = e.reduce("ReduceMean", x, [len(shape) + a for a in axes], True)
        return
    if all(size % o == 0 for size, o in zip(sizes, outs)) and len(shape) in (nd + 1, nd + 2):
        k = [size // o for size, o in zip(sizes, outs)]
        xb, added = _batched(e, op, x, nd)
        y = e.add("AveragePool", [xb], kernel_shape=k, strides=k)
        op.names[0] = e.squeeze(y, [0]) if added else y
        return
    op.names[0] = _axis_maps(e, op, x, n.mh, n.mw)


def _axis_maps(e, op, x, mh, mw):
    """y = mh @ x @ mw^T over the last two axes, with the op's constant matrices."""
    dt = e.dtype(op, 0)
    y = x
    if mw is not None:
        y = e.add("MatMul", [y, e.const(np.ascontiguousarray(mw.T).astype(dt))])
    if mh is not None:
        y = e.add("MatMul", [e.const(np.asarray(mh, dt)), y])
    return y


@_handles(ops.AdaptiveMaxPoolOp)
def _adaptive_max(e, op):
    shape = e.shape(op, 0)
    oh, ow = op.node.out
    h, w = shape[-2:]
    x = e.x(op, 0)
    if h % oh or w % ow:
        raise e.unsupported(op, f"adaptive max pooling from {(h, w)} to {(oh, ow)}: windows of unequal sizes")
    k = [h // oh, w // ow]
    xb, added = _batched(e, op, x, 2)
    y = e.add("MaxPool", [xb], kernel_shape=k, strides=k)
    op.names[0] = e.squeeze(y, [0]) if added else y


@_handles(ops.InterpolateOp)
def _interpolate(e, op):
    n = op.node
    x = e.x(op, 0)
    shape = e.shape(op, 0)
    if n.mode is None or len(shape) not in (3, 4):
        op.names[0] = _axis_maps(e, op, x, n.mh, n.mw)
        return
    one_d = len(shape) == 3
    v = e.unsqueeze(x, [2]) if one_d else x
    size = ([1] if one_d else []) + [int(s) for s in n.size]
    if n.mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif n.mode == "nearest-exact":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_ceil"}
    else:
        how = "align_corners" if n.align_corners else "pytorch_half_pixel"
        attrs = {"mode": "linear", "coordinate_transformation_mode": how}
    if n.scale_factor is not None and not n.align_corners:
        scales = [1.0, 1.0] + ([1.0] if one_d else []) + [float(f) for f in n.scale_factor]
        y = e.add("Resize", [v, "", e.const(np.asarray(scales, np.float32))], **attrs)
    else:
        lead = e.slice(e.add("Shape", [v]), [0], [2], [0])
        sizes = e.add("Concat", [lead, e.ints(size)], axis=0)
        y = e.add("Resize", [v, "", "", sizes], **attrs)
    op.names[0] = e.squeeze(y, [2]) if one_d else y


# --------------------------------------------------------------------------- recurrent layers
#: per kind: (ONNX operator, PyTorch's gate blocks in ONNX's order)
_RNN = {ops.LSTMLayerOp: ("LSTM", (0, 3, 1, 2)), ops.GRULayerOp: ("GRU", (1, 0, 2)), ops.RNNLayerOp: ("RNN", (0,))}


@_handles(ops.RNNLayerOp, ops.LSTMLayerOp, ops.GRULayerOp)
def _recurrent(e, op):
    n = op.node
    kind, blocks = _RNN[type(n)]
    lstm = kind == "LSTM"
    k = 3 if lstm else 2  # where the weights start among the inputs
    hid = e.shape(op, k + 1)[1]
    rows = e.ints(np.concatenate([np.arange(b * hid, (b + 1) * hid) for b in blocks]))

    def gates(i):  # a PyTorch weight or bias with its gate blocks in ONNX's order
        return e.add("Gather", [e.x(op, i), rows], axis=0)

    w = e.unsqueeze(gates(k), [0])
    r = e.unsqueeze(gates(k + 1), [0])
    b = ""
    if len(op.refs1) > k + 2:
        b = e.unsqueeze(e.add("Concat", [gates(k + 2), gates(k + 3)], axis=0), [0])
    states = []
    for i in range(1, k):
        states.append("" if e.is_zero_constant(op, i) else e.unsqueeze(e.x(op, i), [0]))
    ins = [e.x(op, 0), w, r, b, ""] + states
    while ins and ins[-1] == "":
        ins.pop()
    attrs = {"hidden_size": int(hid), "direction": "reverse" if n.reverse else "forward"}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    if kind == "RNN":
        attrs["activations"] = ["Relu" if n.nonlinearity == "relu" else "Tanh"]
    outs = e.add(kind, ins, 3 if lstm else 2, **attrs)
    op.names[0] = e.squeeze(outs[0], [1])
    if lstm and 1 in op.outs1:  # the last cell state, when the model reads it
        op.names[1] = e.squeeze(outs[2], [0])


#: The chainrule operations (graph nodes) the exporter writes, by class name, and the layers written as one
#: ONNX operator (BatchNorm1d/2d in eval mode, Standardize, PixelShuffle). (Training-mode dropout and batch
#: statistics have handlers too, which refuse them with what to do.)
SUPPORTED = tuple(
    sorted(
        {c.__name__ for c, h in _BY_CLASS.items() if h not in (_dropout, _batch_norm_train)}
        | {"BatchNorm1d", "BatchNorm2d", "Standardize", "PixelShuffle"}
    )
)
