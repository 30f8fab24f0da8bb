"""The backward walk: the chain rule applied over the recorded graph.

There is exactly one walk, :func:`walk`, used by ``Tensor.backward``, :func:`grad`,
``cr.explain`` and the gradient checks. It runs in three named steps:

1. **plan**: count, for every node reachable from the outputs, how many edges of the graph lead
   into it (its consumers), with an explicit stack, so graphs of any depth work and the cost is
   linear in the number of nodes; for :func:`grad`, prune to the nodes that lead to a requested
   input.
2. **walk**: one loop over the nodes whose consumers have all delivered their gradient (Kahn's
   algorithm), so each node runs its vector-Jacobian product exactly once, on the *sum* of the
   gradients of everything it fed (seed 000: dC/da = w3 dC/dz' + w4 dC/dz''). Where an input was
   broadcast by the forward operation, its gradient is summed back to the input's shape here, in
   one place (:func:`unbroadcast`), never inside the ops.
3. **deliver**: one place (:class:`Delivery`) where gradients reach leaves' ``.grad``, retained
   tensors, ``grad()``'s results and hooks, with one aliasing rule: every gradient handed out owns
   its memory.

The walk sets grad mode for its own thread only (off, or on under ``create_graph``), so other
threads are never affected. Gradients are never modified in place: sums make new arrays.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from . import namespace
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    BackwardError,
    DTypeError,
    GraphError,
    GraphFreedError,
    ShapeError,
)
from .modes import state
from .tensor import Tensor, Version
from .tensor import wrap as _wrap

__all__ = [
    "backward",
    "grad",
    "walk",
    "unbroadcast",
    "mark_modified",
    "leaf_hooks",
    "Function",
    "FunctionCtx",
    "once_differentiable",
]

#: Taken while a gradient is added to a ``.grad``: backward passes in several threads may share leaves.
_grad_lock = threading.Lock()


def mark_modified(tensors) -> None:
    """Count an in-place change of each tensor's values made directly on its array (an optimizer's
    kernel, load_state_dict, nn.init): graphs that saved them refuse their backward afterwards."""
    for t in tensors:
        vc = t._vc
        if vc is None:
            vc = t._vc = Version()
        vc.bump()


# Leaves with post-accumulate-grad hooks (kept weakly): while there are none, a walk does no counting for them.
_POST_HOOKED: weakref.WeakSet = weakref.WeakSet()


def note_post_hooks(t: Tensor) -> None:
    """Record that leaf ``t`` has post-accumulate-grad hooks (``Tensor.register_post_accumulate_grad_hook``)."""
    _POST_HOOKED.add(t)


def _post_plan(deps) -> dict | None:
    """For leaves with post-accumulate-grad hooks: id -> [leaf, uses in the graph still to come, received]."""
    if not _POST_HOOKED:
        return None
    post: dict = {}
    for n in deps:
        for t, e in zip(n.inputs, n._edges or ()):
            if e is None and t._post_hooks:
                entry = post.get(id(t))
                if entry is None:
                    post[id(t)] = [t, 1, False]
                else:
                    entry[1] += 1
    return post or None


def leaf_hooks(t: Tensor) -> list:
    """The gradient hooks registered on leaf ``t`` (empty if none)."""
    return list(t._hooks or ())


# ============================================================================ entry points
def backward(t: Tensor, grad=None, retain_graph=None, create_graph: bool = False) -> None:
    """Accumulate the gradient of ``t`` into ``.grad`` of every leaf it depends on. ``retain_graph`` defaults
    to ``create_graph``, as in PyTorch."""
    if not t._requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad, so there is no graph to walk. Create the "
            "inputs with requires_grad=True (and do not compute under cr.no_grad())"
        )
    if grad is None and not create_graph and t.data.size == 1:  # the usual: a scalar loss
        seed = _unit_seed(t.data)
    else:
        seed = _seed_grad(t, grad, create_graph, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    walk([t], [seed], retain_graph=bool(retain_graph), create_graph=create_graph)


_UNITS: dict = {}


def _unit_seed(a: np.ndarray) -> np.ndarray:
    """d(loss)/d(loss) = 1 for a one-element loss: a shared read-only array per shape and dtype (made once;
    the delivery copies read-only gradients, so nothing ever writes into it)."""
    key = (a.shape, a.dtype)
    one = _UNITS.get(key)
    if one is None:
        one = _UNITS[key] = np.ones_like(a)
        one.flags.writeable = False
    return one


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False, allow_unused: bool = False):
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    ``outputs`` and ``inputs`` are tensors or sequences of tensors; ``inputs``
    may be leaves or intermediate tensors. With several outputs the gradients
    are summed (each weighted by its ``grad_outputs`` entry). ``create_graph``
    records the computation so the result can be differentiated again.
    Returns a tuple with one tensor per input.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    _check_grad_inputs(inputs)
    seeds = _grad_seeds(outputs, grad_outputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    result = walk(outputs, seeds, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for k, r in enumerate(result):
        if r is None and not allow_unused:
            raise GraphError(
                f"grad: inputs[{k}] (shape {inputs[k].shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(result)


def _check_grad_inputs(inputs) -> None:
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"grad: inputs[{k}] is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad:
            raise GraphError(f"grad: inputs[{k}] (shape {t.shape}) does not require grad")


def _grad_seeds(outputs, grad_outputs, create_graph: bool) -> list:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)) or np.isscalar(grad_outputs):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ArgumentError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    seeds = []
    for k, (o, go) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(o, Tensor):
            raise ArgumentTypeError(f"grad: outputs[{k}] is a {type(o).__name__}, not a Tensor")
        if not o._requires_grad:
            raise GraphError(f"grad: outputs[{k}] does not require grad; it does not depend on any input")
        seeds.append(_seed_grad(o, go, create_graph, "grad"))
    return seeds


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


# ============================================================================ the walk
def walk(
    roots,
    seeds,
    *,
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs=None,
    observer=None,
    run_hooks: bool = True,
):
    """Walk the graph below ``roots`` backward, starting from the gradients ``seeds``.

    Without ``inputs``, gradients are accumulated into the ``.grad`` of the leaves; with ``inputs``
    (leaves or intermediate tensors, as in :func:`grad`) nothing's ``.grad`` changes and their
    gradients are returned, one per input (None where unused). ``observer(node, grads_out, grads_in)``,
    when given, sees every node as it is processed, with the gradients arriving at its outputs and
    the ones it sends to its inputs (fitted to their shapes; None where an input gets none), before
    any is delivered. ``run_hooks=False`` runs no gradient hooks and leaves retained gradients alone
    (explain only looks).
    """
    capture = _Capture(inputs) if inputs is not None else None
    deps, run = _plan(roots, capture)
    ctx = _Walk(deps, run, capture, retain_graph, create_graph, observer, run_hooks)
    if capture is None and run_hooks:
        ctx.post = _post_plan(deps)
    for r, g in zip(roots, seeds):
        if create_graph and isinstance(g, Tensor):
            ctx.given[id(g)] = g  # the caller's seed: a leaf reached by it unchanged gets a copy
        if r._edge is None:
            ctx.deliver(r, g)
        else:
            ctx.add(r._edge, g)
    prev = state.grad_enabled
    state.grad_enabled = create_graph  # this thread only: vjps on Tensors are recorded under create_graph
    try:
        ctx.loop()
        ctx.finish()
    finally:
        state.grad_enabled = prev
    return None if capture is None else capture.results()


class _Capture:
    """What :func:`grad` asked for: requested leaves and intermediate outputs, by position."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.leaves: dict = {}  # id(leaf) -> positions
        self.nodes: dict = {}  # (node, output index) -> positions
        self.values = [None] * len(inputs)
        for k, t in enumerate(inputs):
            if t._edge is None:
                self.leaves.setdefault(id(t), []).append(k)
            else:
                self.nodes.setdefault(t._edge, []).append(k)
        self.node_set = {e[0] for e in self.nodes}

    def take(self, n, gs) -> None:
        """Record the gradients arriving at the outputs of ``n`` that were requested."""
        for i, gi in enumerate(gs):
            if gi is not None:
                for k in self.nodes.get((n, i), ()):
                    self.values[k] = gi

    def results(self) -> list:
        return self.values


# ---------------------------------------------------------------------------- 1. plan
def _plan(roots, capture):
    """Consumers per node reachable from ``roots``; for grad(), also the set of nodes that must run."""
    deps: dict = {}
    stack = []
    for r in roots:
        e = r._edge
        if e is not None and e[0] not in deps:
            deps[e[0]] = 0
            stack.append(e[0])
    freed = _count_consumers(deps, stack, capture)
    if capture is None:
        return deps, None
    if freed and (capture.leaves or len(capture.node_set) > 1):
        # another requested input may lie below a freed node, whose inputs are no longer known:
        # only a single requested node may have its graph below freed
        raise GraphFreedError(_freed_message(freed[0]))
    return deps, _needed(deps, capture)


def _count_consumers(deps, stack, capture) -> list:
    """Fill ``deps`` with each node's number of consumer edges; return requested nodes found freed."""
    freed = []
    while stack:
        n = stack.pop()
        edges = n._edges
        if edges is None:
            if capture is not None and n in capture.node_set:
                freed.append(n)
                continue
            raise GraphFreedError(_freed_message(n))
        for e in edges:
            if e is not None:
                p = e[0]
                if p in deps:
                    deps[p] += 1
                else:
                    deps[p] = 1
                    stack.append(p)
    return freed


def _needed(deps, capture) -> set:
    """For grad(): the nodes whose backward must run, those with an input leading to a requested one."""
    count = dict(deps)
    order = []
    ready = [n for n in count if count[n] == 0]
    while ready:  # outputs before inputs
        n = ready.pop()
        order.append(n)
        for p in _parents(n):
            count[p] -= 1
            if count[p] == 0:
                ready.append(p)
    run: set = set()
    needed = set()
    for n in reversed(order):  # inputs before the nodes that consume them
        if _leads_to_request(n, capture, needed):
            run.add(n)
            needed.add(n)
        elif n in capture.node_set:
            needed.add(n)
    return run


def _parents(n):
    return [e[0] for e in (n._edges or ()) if e is not None]


def _leads_to_request(n, capture, needed) -> bool:
    if n._edges is None:
        return False
    for t, e, need in zip(n.inputs, n._edges, n.needs_input_grad):
        if not need:
            continue
        if (e is None and id(t) in capture.leaves) or (e is not None and e[0] in needed):
            return True
    return False


def _freed_message(n) -> str:
    return (
        f"backward: the graph through node {type(n).__name__} was already freed by an earlier "
        "backward. Pass retain_graph=True to the first backward to walk the graph twice, or "
        "recompute the forward pass"
    )


# ---------------------------------------------------------------------------- 3. deliver
class Delivery:
    """The one place gradients leave the walk: leaves' ``.grad``, retained gradients, grad()'s results.

    The aliasing rule: every gradient handed out owns its memory. An array is handed out as it is
    only when it is writeable, C-contiguous (laid out like its C-ordered parameter, so optimizer
    passes run at speed) and not already handed out in this walk; otherwise it is copied. Under
    ``create_graph`` the gradients are Tensors, each leaf's its own (a recorded copy or sum).
    A leaf with hooks gets the sum of everything this walk sends it, hooked once, then delivered.
    """

    __slots__ = ("capture", "create_graph", "run_hooks", "given", "pending", "post")

    def deliver(self, leaf: Tensor, g) -> None:
        """Gradient ``g`` arrives at ``leaf`` (from one use of it)."""
        capture = self.capture
        if capture is not None:
            if id(leaf) in capture.leaves:
                self._pend(leaf, g)
        elif leaf._hooks and self.run_hooks:
            self._pend(leaf, g)
        elif self.create_graph:
            self._accumulate(leaf, g)
        else:
            with _grad_lock:  # (threads may share leaves)
                if leaf.grad is None:  # the usual: the first gradient of this backward, handed over as it is
                    leaf.grad = _wrap(self.own(g))
                else:
                    leaf.grad = _wrap(_plus(leaf.grad.data, g))

    def _pend(self, leaf, g) -> None:
        if self.pending is None:
            self.pending = {}
        entry = self.pending.get(id(leaf))
        if entry is None:
            self.pending[id(leaf)] = [leaf, g]
        else:
            entry[1] = _plus(entry[1], g)

    def leaf_done(self, leaf, received: bool) -> None:
        """One use of ``leaf`` (which has post-accumulate-grad hooks) has sent its gradient, or none: once
        all have, and it received one, its hooks run (a leaf with gradient hooks waits for :meth:`finish`)."""
        entry = self.post.get(id(leaf))
        if entry is None:
            return
        entry[1] -= 1
        entry[2] = entry[2] or received
        if entry[1] == 0 and entry[2] and not leaf._hooks:
            del self.post[id(leaf)]
            _run_post_hooks(leaf)

    def finish(self) -> None:
        """Run leaves' hooks once on their summed gradient and deliver; hand grad()'s results out."""
        for leaf, g in (self.pending or {}).values():
            if leaf._hooks and self.run_hooks:
                g = self._apply_hooks(leaf._hooks, g)
            if self.capture is None:
                self._accumulate(leaf, g)
            else:
                for k in self.capture.leaves[id(leaf)]:
                    self.capture.values[k] = g
        if self.post:
            self.finish_post()
        if self.capture is not None:
            vals = self.capture.values
            for k, v in enumerate(vals):
                if v is not None:
                    vals[k] = self.own(v) if self.create_graph else _wrap(self.own(v))

    def finish_post(self) -> None:
        """Run the post-accumulate-grad hooks that could not run earlier (gradient hooks, uses sending nothing)."""
        post, self.post = self.post, None
        for leaf, _, received in post.values():
            if received or (self.pending and id(leaf) in self.pending):
                _run_post_hooks(leaf)

    def _apply_hooks(self, hooks, g):
        """Run gradient hooks in order; a hook's non-None result replaces the gradient. What a hook saw or
        returned counts as handed out: the gradient delivered from it is a copy, as in PyTorch."""
        for hook in list(hooks):
            self._seen(g)
            new = _hooked(hook, g, self.create_graph)
            if new is not None:
                self._seen(new)
                g = new
        return g

    def _seen(self, g) -> None:
        if self.create_graph:
            self.given[id(g)] = g
        else:
            base = g if g.base is None else g.base
            self.given[id(base)] = base

    def own(self, g):
        """``g``, or a copy of it, such that no two handed-out gradients share memory."""
        if self.create_graph:
            return g.clone() if id(g) in self.given else self._mark(g)
        base = g if g.base is None else g.base
        if not g.flags.writeable or not g.flags.c_contiguous or id(base) in self.given:
            return g.copy()
        self.given[id(base)] = base
        return g

    def _mark(self, g):
        self.given[id(g)] = g
        return g

    def _accumulate(self, t: Tensor, g) -> None:
        """t.grad += g (a new gradient tensor; never written in place: it may be shared by the caller).

        Under a lock: threads running backward into one leaf at once each add their part, as in PyTorch."""
        with _grad_lock:
            old = t.grad
            if self.create_graph:
                t.grad = self.own(g) if old is None else old + g
            elif old is None:
                t.grad = _wrap(self.own(g))
            else:
                t.grad = _wrap(_plus(old.data, g))

    def node_extras(self, n, gs) -> tuple:
        """Gradient hooks, then retained gradients, of a node's outputs; returns the (hooked) gradients."""
        extra = n._extra
        hooks = extra.get("hooks")
        if hooks:
            gs = list(gs)
            for idx, fns in hooks.items():
                if fns and gs[idx] is not None:
                    gs[idx] = self._apply_hooks(fns, gs[idx])
            gs = tuple(gs)
        for idx, ref in (extra.get("retain") or {}).items():
            t = ref()
            if t is not None and gs[idx] is not None:
                self._accumulate(t, gs[idx])
        return gs


# ---------------------------------------------------------------------------- 2. walk
class _Walk(Delivery):
    """The state of one walk: pending gradients per node, consumers left, and (its Delivery part)
    where gradients go."""

    __slots__ = ("deps", "run", "buf", "retain_graph", "xp", "observer")

    def __init__(self, deps, run, capture, retain_graph, create_graph, observer, run_hooks):
        self.deps = deps
        self.run = run
        self.buf: dict = {}
        self.retain_graph = retain_graph
        self.xp = namespace.tensor_ns if create_graph else namespace.numpy_ns
        self.observer = _with_anomaly_check(observer) if state.anomaly_enabled else observer
        self.capture = capture
        self.create_graph = create_graph
        self.run_hooks = run_hooks
        self.given: dict = {}  # id -> the memory handed out in this walk (kept, so the ids stay valid)
        self.pending = None  # id(leaf) -> [leaf, summed gradient]: hooked leaves, captured leaves
        self.post = None  # id(leaf) -> [leaf, uses to come, received]: leaves with post-accumulate-grad hooks

    def add(self, edge, g) -> None:
        """Add gradient ``g`` to what output ``edge = (node, index)`` has received so far."""
        n, i = edge
        buf = self.buf
        if n._n_out == 1:
            old = buf.get(n)
            buf[n] = g if old is None else _plus(old, g)
            return
        slots = buf.get(n)
        if slots is None:
            slots = buf[n] = [None] * n._n_out
        slots[i] = g if slots[i] is None else _plus(slots[i], g)

    def loop(self) -> None:
        """Process every node once its consumers are done, in one loop."""
        deps, run, buf, xp, send = self.deps, self.run, self.buf, self.xp, self.send
        plain = self.capture is None and self.run_hooks
        observer = self.observer
        free = not self.retain_graph
        ready = [n for n in deps if deps[n] == 0]
        while ready:
            n = ready.pop()
            g = buf.pop(n, None)
            if g is None or (run is not None and n not in run):
                self.skip(n, g, ready)
                continue
            gs = (g,) if plain and n._n_out == 1 and n._extra is None else self.arriving(n, g)
            out = n.vjp(xp, *gs)
            if type(out) is not tuple or len(out) != len(n.inputs):
                out = _check_result(n, out, len(n.inputs))
            if observer is not None:
                out = self.observed(n, gs, out)
            send(n, out, ready)
            if free:
                n._free()

    def skip(self, n, g, ready) -> None:
        """A node nothing flows through, or (grad()) one below which nothing was asked for: its
        requested outputs are taken and its inputs' nodes released, but it does not run."""
        if g is not None:
            self.arriving(n, g)
        self.release(n, ready)
        if (self.run is None or n in self.run) and not self.retain_graph:
            n._free()

    def arriving(self, n, g) -> tuple:
        """The gradients of node ``n``'s outputs: hooks run and retained, grad()'s requests taken."""
        # (a multi-output node's outputs that received no gradient are None here: hooks,
        # retained and requested gradients see only those that did; then they get zeros)
        gs = (g,) if n._n_out == 1 else tuple(g)
        if n._extra is not None and self.run_hooks:
            gs = self.node_extras(n, gs)
        if self.capture is not None:
            self.capture.take(n, gs)
        if n._n_out != 1:
            gs = _fill_missing(n, gs, self.create_graph)
        return gs

    def observed(self, n, gs, out) -> list:
        """Show the observer node ``n`` with its gradients fitted to its inputs, before any is delivered."""
        fitted = [None] * len(out)
        for i, need in enumerate(n.needs_input_grad):
            if need and out[i] is not None:
                fitted[i] = _fit(n, i, out[i], n.inputs[i].data, self.create_graph)
        self.observer(n, gs, fitted)
        return fitted

    def send(self, n, out, ready) -> None:
        """Hand each input's gradient on, brought to the input's shape and dtype: to its producer's
        buffer, or to the delivery of leaves; count the node as done for its inputs' producers."""
        deps, buf, create, post = self.deps, self.buf, self.create_graph, self.post
        inputs, needs = n.inputs, n.needs_input_grad
        for i, e in enumerate(n._edges):
            gi = out[i]
            if gi is not None and needs[i]:
                data = inputs[i].data
                if create or type(gi) is not np.ndarray or gi.shape != data.shape or gi.dtype != data.dtype:
                    gi = _fit(n, i, gi, data, create)
                if e is None:
                    self.deliver(inputs[i], gi)
                    if post is not None:
                        self.leaf_done(inputs[i], True)
                    continue
                p = e[0]
                if p._n_out == 1:
                    old = buf.get(p)
                    buf[p] = gi if old is None else _plus(old, gi)
                else:
                    self.add(e, gi)
            elif e is None:
                if post is not None:
                    self.leaf_done(inputs[i], False)
                continue
            p = e[0]
            c = deps[p] - 1
            deps[p] = c
            if c == 0:
                ready.append(p)

    def release(self, n, ready) -> None:
        """Count node ``n`` as done for its inputs' nodes without running it."""
        deps = self.deps
        for e in n._edges or ():  # a freed node: step 1 did not count edges below it
            if e is not None:
                p = e[0]
                deps[p] -= 1
                if deps[p] == 0:
                    ready.append(p)


def _run_post_hooks(leaf) -> None:
    for hook in list(leaf._post_hooks or ()):
        hook(leaf)


def _plus(a, b):
    """a + b for gradients; a sum of 0-d arrays stays an array (NumPy would return a scalar)."""
    s = a + b
    return np.asarray(s) if isinstance(s, np.generic) else s


def _with_anomaly_check(observer):
    from .anomaly import check_backward_node

    if observer is None:
        return check_backward_node

    def both(n, gs, fitted):
        check_backward_node(n, gs, fitted)
        observer(n, gs, fitted)

    return both


def _fill_missing(n, gs, create_graph):
    """Multi-output nodes: outputs that received no gradient get zeros."""
    meta = n._extra.get("out_meta") if n._extra else None
    out = []
    for i, g in enumerate(gs):
        if g is None:
            if meta is None:
                raise GraphError(f"{type(n).__name__}: output {i} received no gradient and its shape is unknown")
            shape, dtype = meta[i]
            z = np.zeros(shape, dtype)
            g = _wrap(z) if create_graph else z
        out.append(g)
    return tuple(out)


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


def _fit(n, i, gi, data, create_graph):
    """Bring gradient ``gi`` to input ``i``'s shape and dtype, undoing broadcasting."""
    if create_graph:
        if not isinstance(gi, Tensor):
            gi = _wrap(np.asarray(gi))
        if gi.shape != data.shape:
            _check_broadcast(n, i, gi.shape, data.shape)
            gi = namespace.tensor_ns.sum_to(gi, data.shape)
        return gi if gi.dtype == data.dtype else gi.astype(data.dtype)
    if type(gi) is not np.ndarray:
        gi = np.asarray(gi.data if isinstance(gi, Tensor) else gi)  # a user's backward may return Tensors
    if gi.shape != data.shape:
        _check_broadcast(n, i, gi.shape, data.shape)
        gi = unbroadcast(gi, data.shape, type(n).__name__)
    return gi if gi.dtype == data.dtype else gi.astype(data.dtype)


def _check_broadcast(n, i, gshape, shape):
    lead = len(gshape) - len(shape)
    ok = lead >= 0 and all(s == 1 or s == gs for s, gs in zip(shape, gshape[lead:]))
    if not ok:
        raise BackwardError(
            f"{type(n).__name__}.backward returned a gradient of shape {tuple(gshape)} for input {i}, "
            f"which has shape {tuple(shape)}; a gradient must have its input's shape (or the "
            "broadcast shape, which is then summed back)"
        )


def unbroadcast(g: np.ndarray, shape: tuple, where: str = "backward") -> np.ndarray:
    """Sum ``g`` over the axes along which an array of ``shape`` was broadcast."""
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ShapeError(f"{where}: gradient of shape {g.shape} has fewer axes than the input {shape}")
    axes = list(range(lead))
    gshape = g.shape
    for k, s in enumerate(shape):
        if s == gshape[lead + k]:
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


def _hooked(hook, g, create_graph: bool):
    """One hook's replacement for gradient ``g`` (None: keep ``g``), checked as PyTorch checks it: the same
    shape and dtype."""
    res = hook(g if create_graph else _wrap(g))
    if res is None:
        return None
    if create_graph:
        new = res if isinstance(res, Tensor) else _wrap(np.asarray(res))
    else:
        new = np.asarray(res.data if isinstance(res, Tensor) else res)
    if new.shape != g.shape:
        raise ShapeError(
            f"register_hook: a hook returned a gradient of shape {new.shape} for a tensor whose "
            f"gradient has shape {g.shape}; a hook must keep the shape"
        )
    if new.dtype != g.dtype:
        raise DTypeError(
            f"register_hook: a hook changed the gradient's dtype from {g.dtype} to {new.dtype}; a hook must "
            f"keep the dtype, as in PyTorch (convert its result, e.g. with .to({str(g.dtype)!r}))"
        )
    return new


# PyTorch's ctx-style Function, spelled cr.autograd.Function as in torch.autograd. It lives in its own module
# (an adapter on cr.Function's public interface, outside the engine) and is re-exported here.
from .autograd_function import Function, FunctionCtx, once_differentiable  # noqa: E402
