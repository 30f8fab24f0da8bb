"""The backward walk: the chain rule applied over the recorded graph.

There is exactly one walk, used by ``Tensor.backward`` and :func:`grad`:

1. Count, for every node reachable from the outputs, how many edges of the
   graph lead into it (its consumers), with an explicit stack, so that graphs
   of any depth work and the cost is linear in the number of nodes.
2. Process nodes whose consumers have all delivered their gradient (Kahn's
   algorithm), so each node runs its ``backward`` exactly once, on the *sum*
   of the gradients of everything it fed (seed 000: dC/da = w3 dC/dz' + w4 dC/dz'').
3. Hand each input its gradient; where an input was broadcast by the forward
   operation, the gradient is summed back to the input's shape *here*, in one
   place, never inside the ops.

Gradients are never modified in place: sums make new arrays. That keeps it safe
for ``backward`` methods to return the incoming gradient itself (Add does).
"""

from __future__ import annotations

import weakref

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    from numpy import byte_bounds

from . import _mode
from .errors import ArgumentError, ArgumentTypeError, BackwardError, GraphError, GraphFreedError, ShapeError
from .tensor import Tensor

__all__ = ["backward", "grad", "unbroadcast"]

_wrap = Tensor._wrap

# Gradient hooks of leaf tensors: id(leaf) -> (weak reference, [hooks]). Kept here rather than on
# the Tensor so that tensors stay small; an entry goes when its tensor does.
_leaf_hooks: dict = {}


def leaf_hooks(t: Tensor, create: bool = False):
    """The hook list of leaf ``t`` (None if it has none, unless ``create``)."""
    entry = _leaf_hooks.get(id(t))
    if entry is not None and entry[0]() is t:
        return entry[1]
    if not create:
        return None
    key = id(t)
    ref = weakref.ref(t, lambda _r, key=key: _leaf_hooks.pop(key, None))
    hooks: list = []
    _leaf_hooks[key] = (ref, hooks)
    return hooks


# Leaves changed in place: id(leaf) -> [weak reference, clock of the last change].
_modified: dict = {}


def _memory(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself, or the base its view was taken from)."""
    b = a.base
    while type(b) is np.ndarray:
        a, b = b, b.base
    return a


def mark_modified(tensors) -> None:
    """Record that ``tensors`` had their values changed in place, for the staleness check.

    Changes are recorded against the memory (the owning array and the byte range written), not the
    Tensor object, so a write through another tensor sharing it (``t.detach()``, a view) counts for
    every tensor overlapping it, and only for those.
    """
    _mode.clock += 1
    now = _mode.clock
    get = _modified.get
    for t in tensors:
        a = t.data
        m = _memory(a)
        entry = get(id(m))
        if entry is None:  # an entry leaves with its array (the weakref's callback), so the id is m's
            key = id(m)
            entry = _modified[key] = [weakref.ref(m, lambda _r, key=key: _modified.pop(key, None)), {}]
        regions = entry[1]
        if a is m:  # the whole array (a parameter's step, the usual case): it covers every older region
            regions.clear()
            regions[None] = now
        else:
            regions[byte_bounds(a)] = now
            if len(regions) > 64:  # many separate slices written: keep one whole-array record instead
                regions.clear()
                regions[None] = now


def _changed_since(a: np.ndarray, clock: int) -> bool:
    """Whether memory overlapping array ``a`` was marked modified after ``clock``."""
    m = _memory(a)
    entry = _modified.get(id(m))
    if entry is None or entry[0]() is not m:
        return False
    bounds = None
    for region, c in entry[1].items():
        if c <= clock:
            continue
        if region is None or a is m:  # the whole array was written, or a reads the whole array
            return True
        if bounds is None:
            bounds = byte_bounds(a)
        if region[0] < bounds[1] and bounds[0] < region[1]:
            return True
    return False


def _check_fresh(n, create_graph: bool) -> None:
    """Raise if a leaf input of node ``n`` whose value its backward reads was changed in place after
    ``n`` was recorded."""
    for attr in n.saved_outputs:  # arrays forward kept (an output, written through y.detach())
        kept = getattr(n, attr, None)
        if isinstance(kept, np.ndarray) and _changed_since(kept, n._clock):
            raise GraphError(
                f"backward: the output of node {type(n).__name__} (shape {kept.shape}), which its backward "
                "reads, was changed in place after the forward pass; copy it before changing it "
                "(y.detach().copy()), or run the forward pass again"
            )
    reads = n.reads_inputs
    if create_graph and not isinstance(reads, tuple):  # backward_graph may read what backward need not
        reads = True
    elif reads is False:
        return
    for i, t in enumerate(n.inputs):
        if reads is not True and i not in reads:
            continue
        # leaves, and views of them (W.T): whatever tensor's memory was written after n was recorded
        if isinstance(t, Tensor) and _changed_since(t.data, n._clock):
            name = f"'{t.name}' " if t.name else ""
            raise GraphError(
                f"backward: input {i} {name}(shape {t.shape}) of node {type(n).__name__} was changed in place "
                "(by an optimizer step, load_state_dict, nn.init or an assignment t[...] = v) after the "
                "forward pass used it, so its gradients would be computed with the new values. Call "
                "backward() before optimizer.step() (or before changing the values), or run the forward "
                "pass again"
            )


def _apply_hooks(hooks, g, create_graph: bool):
    """Run gradient hooks in order; a hook's non-None result replaces the gradient."""
    for hook in list(hooks):
        res = hook(g if create_graph else _wrap(g))
        if res is not None:
            if create_graph:
                g = res if isinstance(res, Tensor) else _wrap(np.asarray(res))
            else:
                new = np.asarray(res.data if isinstance(res, Tensor) else res)
                if new.shape != g.shape:
                    raise ShapeError(
                        f"register_hook: a hook returned a gradient of shape {new.shape} for a tensor whose "
                        f"gradient has shape {g.shape}"
                    )
                g = new.astype(g.dtype, copy=False)
    return g


def unbroadcast(g: np.ndarray, shape: tuple, where: str = "backward") -> np.ndarray:
    """Sum ``g`` over the axes along which an array of ``shape`` was broadcast."""
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ShapeError(f"{where}: gradient of shape {g.shape} has fewer axes than the input {shape}")
    axes = list(range(lead))
    gshape = g.shape
    for k, s in enumerate(shape):
        gs = gshape[lead + k]
        if s == gs:
            continue
        if s != 1:
            raise ShapeError(f"{where}: gradient of shape {g.shape} does not fit an input of shape {shape}")
        axes.append(lead + k)
    if axes:
        g = g.sum(axis=tuple(axes))
        if type(g) is not np.ndarray:  # a sum down to 0-d is a NumPy scalar: keep gradients arrays
            g = np.asarray(g)
    if g.shape != shape:
        g = g.reshape(shape)
    return g


def _seed_grad(t: Tensor, grad, create_graph: bool, what: str):
    """The starting gradient d(output)/d(output) for root ``t``: an array, or a Tensor when recording."""
    if grad is None:
        if t.data.size != 1:
            raise GraphError(
                f"{what}: the output has shape {t.shape}; a starting gradient can only be implied "
                "for a one-element output (a scalar loss). Reduce it first (e.g. .sum() or .mean()) "
                "or pass grad= an array of the output's shape"
            )
        g = np.ones_like(t.data)
        return _wrap(g) if create_graph else g
    if isinstance(grad, Tensor) and create_graph:
        g = grad
    else:
        # A private copy: gradients handed to leaves must not alias the caller's array.
        g = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=t.data.dtype, copy=True)
    if g.shape != t.shape:
        raise ShapeError(f"{what}: grad has shape {g.shape} but the output has shape {t.shape}; they must match")
    if create_graph and not isinstance(g, Tensor):
        g = _wrap(g)
    return g


def backward(t: Tensor, grad=None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate the gradient of ``t`` into ``.grad`` of every leaf it depends on."""
    if grad is None and not create_graph and t._requires_grad and t.data.size == 1:  # the usual: a scalar loss
        _run([t], [np.ones_like(t.data)], retain_graph, False, None)
        return
    if not t._requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad, so there is no graph to walk. Create the "
            "inputs with requires_grad=True (and do not compute under cr.no_grad())"
        )
    g = _seed_grad(t, grad, create_graph, "backward")
    _run([t], [g], retain_graph or create_graph, create_graph, None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False, allow_unused: bool = False):
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    ``outputs`` and ``inputs`` are tensors or sequences of tensors; ``inputs``
    may be leaves or intermediate tensors. With several outputs the gradients
    are summed (each weighted by its ``grad_outputs`` entry). ``create_graph``
    records the computation so the result can be differentiated again.
    Returns a tuple with one tensor per input.
    """
    single_out = isinstance(outputs, Tensor)
    outputs = [outputs] if single_out else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)) or np.isscalar(grad_outputs):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ArgumentError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    if retain_graph is None:
        retain_graph = create_graph
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"grad: inputs[{k}] is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad:
            raise GraphError(f"grad: inputs[{k}] (shape {t.shape}) does not require grad")
    roots, seeds = [], []
    for k, (o, go) in enumerate(zip(outputs, grad_outputs)):
        if not o._requires_grad:
            raise GraphError(f"grad: outputs[{k}] does not require grad; it does not depend on any input")
        roots.append(o)
        seeds.append(_seed_grad(o, go, create_graph, "grad"))
    result = _run(roots, seeds, retain_graph, create_graph, inputs)
    if not create_graph:
        out, seen = [], set()
        for r in result:
            if r is not None:
                base = r if r.base is None else r.base
                if not r.flags.writeable or id(base) in seen:
                    r = r.copy()  # every returned gradient owns its memory
                else:
                    seen.add(id(base))
                r = _wrap(r)
            out.append(r)
        result = out
    for k, r in enumerate(result):
        if r is None and not allow_unused:
            raise GraphError(
                f"grad: inputs[{k}] (shape {inputs[k].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(result)


def _run(roots, seeds, retain_graph, create_graph, capture, observer=None, side_effects=True):
    """The walk. ``capture`` is None (accumulate into leaves) or the list of inputs of grad().

    ``observer(node, output_grads, input_grads)``, when given, sees every node as it is
    processed (chainrule.explain builds its trace with it; anomaly mode checks values).
    ``side_effects=False`` runs no gradient hooks and leaves retained gradients alone (explain only looks).
    """
    # ---- what to capture for grad()
    results = None
    leaf_pos = node_pos = run = None
    if capture is not None:
        results = [None] * len(capture)
        leaf_pos = {}
        node_pos = {}
        for k, t in enumerate(capture):
            if t._node is None:
                leaf_pos.setdefault(id(t), []).append(k)
            else:
                node_pos.setdefault((t._node, t._index), []).append(k)

    # ---- 1. consumers per node, iteratively
    deps: dict = {}
    stack = []
    freed = None  # grad(): requested nodes whose graph below was freed (nothing below them is needed)
    for r in roots:
        n = r._node
        if n is not None and n not in deps:
            deps[n] = 0
            stack.append(n)
    while stack:
        n = stack.pop()
        inputs = n.inputs
        if inputs is None:
            if node_pos is not None and any((n, i) in node_pos for i in range(n._n_out)):
                freed = freed or set()
                freed.add(n)
                continue
            raise GraphFreedError(_freed_message(n))
        for inp, need in zip(inputs, n.needs_input_grad):
            if need:
                p = inp._node
                if p is not None:
                    if p in deps:
                        deps[p] += 1
                    else:
                        deps[p] = 1
                        stack.append(p)

    if capture is not None:
        if freed is not None and (leaf_pos or len({key[0] for key in node_pos}) > 1):
            # Another requested input may lie below a freed node, whose inputs are no longer known:
            # only a single requested node may have its graph below freed.
            raise GraphFreedError(_freed_message(next(iter(freed))))
        run = _nodes_to_run(roots, deps, leaf_pos, node_pos)

    # ---- seed the roots
    buf: dict = {}
    # leaves with hooks: their gradient is summed over the whole walk, hooked once, then delivered
    pending = {} if _leaf_hooks and side_effects else None
    for r, g in zip(roots, seeds):
        n = r._node
        if n is None:
            if pending is not None and leaf_hooks(r) and (leaf_pos is None or id(r) in leaf_pos):
                _add_pending(pending, r, g)
            else:
                _deliver_leaf(r, g, create_graph, results, leaf_pos)
        else:
            _add_to_buffer(buf, n, r._index, g, create_graph)

    if _mode.anomaly_enabled:
        observer = _with_anomaly_check(observer)

    # ---- 2 & 3. process ready nodes
    ready = [n for n in deps if deps[n] == 0]
    clock = _mode.clock
    given: set = set()  # ids of the memory handed to leaves as .grad in this walk
    given_keep: list = []  # keeps those ids valid during the walk
    prev_mode = _mode.grad_enabled
    _mode.grad_enabled = create_graph
    try:
        while ready:
            n = ready.pop()
            g = buf.pop(n, None)
            inputs = n.inputs
            needs = n.needs_input_grad
            if g is None:  # nothing flows through this node: only release its inputs' counts
                _release(n, deps, ready)
                if not retain_graph and (run is None or n in run):
                    n._free()
                continue
            if n._clock != clock and (run is None or n in run):
                # some leaf was changed in place since this node was recorded, and backward reads it
                _check_fresh(n, create_graph)
            # (a multi-output node's outputs that received no gradient are None here: hooks,
            # retained and requested gradients see only those that did)
            gs = (g,) if n._n_out == 1 else tuple(g)
            if n._extra is not None and side_effects:
                gs = _extras(n, gs, create_graph)
            if node_pos is not None:
                for i, gi in enumerate(gs):
                    if gi is not None:
                        for k in node_pos.get((n, i), ()):
                            results[k] = gi
                if n not in run:
                    # grad(): nothing below this node leads to a requested input; leave
                    # its part of the graph untouched (not run, not freed).
                    _release(n, deps, ready)
                    continue
            if n._n_out != 1:
                gs = _fill_missing(n, gs, create_graph)
            out = n.backward_graph(*gs) if create_graph else n.backward(*gs)
            if type(out) is not tuple or len(out) != len(inputs):
                out = _check_result(n, out, len(inputs))
            if observer is not None:
                # The observer (explain, anomaly checks) sees the fitted gradients before any
                # is delivered, so an anomaly raises before a bad value reaches a .grad.
                fitted = [None] * len(inputs)
                for i, need in enumerate(needs):
                    if need and out[i] is not None:
                        fitted[i] = _fit(n, i, out[i], inputs[i], create_graph)
                observer(n, gs, fitted)
                out = fitted
            for i, need in enumerate(needs):
                if not need:
                    continue
                inp = inputs[i]
                p = inp._node
                gi = out[i]
                if gi is not None:
                    data = inp.data
                    if create_graph or type(gi) is not np.ndarray or gi.shape != data.shape or gi.dtype != data.dtype:
                        gi = _fit(n, i, gi, inp, create_graph)
                    if p is None:
                        if pending is not None and leaf_hooks(inp) and (leaf_pos is None or id(inp) in leaf_pos):
                            _add_pending(pending, inp, gi)
                        elif leaf_pos is None and not create_graph:
                            # accumulate into leaf.grad (new arrays only: gradients may be shared)
                            old = inp.grad
                            if old is not None:
                                inp.grad = _wrap(_plus(old.data, gi))
                            else:
                                base = gi if gi.base is None else gi.base
                                flags = gi.flags
                                if not flags.writeable or id(base) in given or not flags.c_contiguous:
                                    # no two leaves share one gradient's memory, and a gradient is laid
                                    # out like its (C-ordered) parameter, so optimizer passes run at speed
                                    gi = gi.copy()
                                else:
                                    given.add(id(base))
                                    given_keep.append(base)
                                inp.grad = _wrap(gi)
                        else:
                            _deliver_leaf(inp, gi, create_graph, results, leaf_pos)
                    elif p._n_out == 1:
                        old = buf.get(p)
                        buf[p] = gi if old is None else _plus(old, gi)
                    else:
                        _add_to_buffer(buf, p, inp._index, gi, create_graph)
                if p is not None:
                    c = deps[p] - 1
                    deps[p] = c
                    if c == 0:
                        ready.append(p)
            if not retain_graph:
                n._free()
        if pending:
            for leaf, g in pending.values():
                hooks = leaf_hooks(leaf)
                if hooks:
                    g = _apply_hooks(hooks, g, create_graph)
                if not create_graph:
                    g = np.array(g, copy=True)  # the leaf's own memory
                _deliver_leaf(leaf, g, create_graph, results, leaf_pos)
    finally:
        _mode.grad_enabled = prev_mode
    return results


def _freed_message(n) -> str:
    return (
        f"backward: the graph through node {type(n).__name__} was already freed by an earlier "
        "backward. Pass retain_graph=True to the first backward to walk the graph twice, or "
        "recompute the forward pass"
    )


def _plus(a, b):
    """a + b for gradients; a sum of 0-d arrays stays an array (NumPy would return a scalar)."""
    s = a + b
    return np.asarray(s) if isinstance(s, np.generic) else s


def _add_pending(pending, leaf, g):
    old = pending.get(id(leaf))
    pending[id(leaf)] = (leaf, g if old is None else _plus(old[1], g))


def _release(n, deps, ready) -> None:
    """Count node ``n`` as done for its inputs' nodes without running it; queue those now ready."""
    if n.inputs is None:  # freed: step 1 did not count edges below it
        return
    for inp, need in zip(n.inputs, n.needs_input_grad):
        if need:
            p = inp._node
            if p is not None:
                c = deps[p] - 1
                deps[p] = c
                if c == 0:
                    ready.append(p)


def _nodes_to_run(roots, deps, leaf_pos, node_pos):
    """For grad(): the nodes whose backward must run, those with an input that leads to a requested one."""
    count = dict(deps)
    order = []
    ready = [n for n in count if count[n] == 0]
    while ready:
        n = ready.pop()
        order.append(n)
        for inp, need in zip(n.inputs or (), n.needs_input_grad):
            if need and inp._node is not None:
                c = count[inp._node] - 1
                count[inp._node] = c
                if c == 0:
                    ready.append(inp._node)
    captured = {key[0] for key in node_pos}
    run: set = set()
    needed: set = set()
    for n in reversed(order):  # inputs before the nodes that consume them
        for inp, need in zip(n.inputs or (), n.needs_input_grad):
            if need:
                p = inp._node
                if (p is None and id(inp) in leaf_pos) or (p is not None and p in needed):
                    run.add(n)
                    break
        if n in run or n in captured:
            needed.add(n)
    return run


def _with_anomaly_check(observer):
    from .anomaly import check_backward_node

    if observer is None:
        return check_backward_node

    def both(n, gs, fitted):
        check_backward_node(n, gs, fitted)
        observer(n, gs, fitted)

    return both


def _add_to_buffer(buf, n, index, g, create_graph):
    if n._n_out == 1:
        old = buf.get(n)
        buf[n] = g if old is None else _plus(old, g)
    else:
        slots = buf.get(n)
        if slots is None:
            slots = buf[n] = [None] * n._n_out
        old = slots[index]
        slots[index] = g if old is None else _plus(old, g)


def _fill_missing(n, slots, create_graph):
    """Multi-output nodes: outputs that received no gradient get zeros."""
    meta = n._extra.get("out_meta") if n._extra else None
    gs = []
    for i, g in enumerate(slots):
        if g is None:
            if meta is None:
                raise GraphError(f"{type(n).__name__}: output {i} received no gradient and its shape is unknown")
            shape, dtype = meta[i]
            z = np.zeros(shape, dtype)
            g = _wrap(z) if create_graph else z
        gs.append(g)
    return tuple(gs)


def _extras(n, gs, create_graph):
    """Gradient hooks, then retained gradients, of non-leaf outputs; returns the (possibly hooked) gradients."""
    hooks = n._extra.get("hooks")
    if hooks:
        gs = list(gs)
        for idx, fns in hooks.items():
            if fns and gs[idx] is not None:
                gs[idx] = _apply_hooks(fns, gs[idx], create_graph)
        gs = tuple(gs)
    retain = n._extra.get("retain")
    if retain:
        for idx, ref in retain.items():
            t = ref()
            if t is not None and gs[idx] is not None:
                g = gs[idx]
                # its own memory (or, recording, its own tensor): the same gradient goes on to other nodes
                g = g.clone() if create_graph else _wrap(g.copy())
                t.grad = g if t.grad is None else t.grad + g
    return gs


def _check_result(n, out, n_inputs):
    if type(out) is not tuple:
        if isinstance(out, list):
            out = tuple(out)
        elif n_inputs == 1:
            out = (out,)
        else:
            raise BackwardError(
                f"{type(n).__name__}.backward returned 1 gradient but the node has {n_inputs} inputs; "
                f"return a tuple of {n_inputs} gradients (None for an input that needs none)"
            )
    if len(out) != n_inputs:
        raise BackwardError(
            f"{type(n).__name__}.backward returned {len(out)} gradients but the node has {n_inputs} "
            f"input{'s' if n_inputs != 1 else ''}; return exactly one per input (None where none is needed)"
        )
    return out


def _fit(n, i, gi, inp, create_graph):
    """Bring gradient ``gi`` to input ``i``'s shape and dtype, undoing broadcasting."""
    data = inp.data
    if create_graph:
        if not isinstance(gi, Tensor):
            gi = _wrap(np.asarray(gi))
        if gi.shape != data.shape:
            _check_broadcast(n, i, gi.shape, data.shape)
            from . import ops

            gi = ops.sum_to(gi, data.shape)
        if gi.dtype != data.dtype:
            gi = gi.astype(data.dtype)
        return gi
    if type(gi) is not np.ndarray:
        if isinstance(gi, Tensor):
            raise BackwardError(
                f"{type(n).__name__}.backward returned a Tensor for input {i}; backward works on "
                "NumPy arrays and must return arrays"
            )
        gi = np.asarray(gi)
    if gi.shape != data.shape:
        _check_broadcast(n, i, gi.shape, data.shape)
        gi = unbroadcast(gi, data.shape, type(n).__name__)
    if gi.dtype != data.dtype:
        gi = gi.astype(data.dtype)
    return gi


def _check_broadcast(n, i, gshape, shape):
    lead = len(gshape) - len(shape)
    ok = lead >= 0 and all(s == 1 or s == gs for s, gs in zip(shape, gshape[lead:]))
    if not ok:
        raise BackwardError(
            f"{type(n).__name__}.backward returned a gradient of shape {tuple(gshape)} for input {i}, "
            f"which has shape {tuple(shape)}; a gradient must have its input's shape (or the "
            "broadcast shape, which is then summed back)"
        )


def _deliver_leaf(leaf, g, create_graph, results, leaf_pos):
    if leaf_pos is not None:
        for k in leaf_pos.get(id(leaf), ()):
            results[k] = g if results[k] is None else _plus(results[k], g)
        return
    if create_graph:
        # a recorded copy: two leaves fed by one node (a + c) must not share one gradient tensor
        leaf.grad = g.clone() if leaf.grad is None else leaf.grad + g
        return
    if not g.flags.writeable or not g.flags.c_contiguous:
        g = g.copy()
    old = leaf.grad
    if old is None:
        leaf.grad = _wrap(g)
    else:
        leaf.grad = _wrap(_plus(old.data, g))
