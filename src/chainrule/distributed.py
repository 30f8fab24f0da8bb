"""Data-parallel training over MPI (extra ``mpi``: ``pip install 'chainrule[mpi]'`` installs mpi4py and
the MPICH wheel, a working MPI with no system packages).

Run a script on N processes with ``mpiexec -n N python script.py`` (or ``chainrule train ... --nproc N``);
each process (a *rank*) trains on its shard of the data, and :class:`DistributedDataParallel` averages
the gradients, so N ranks with batch B take the same steps as one process with batch N*B::

    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    model = dist.DistributedDataParallel(make_model())   # rank 0's weights everywhere
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0)
    loader = cr.data.DataLoader(dataset, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()     # gradients averaged over the ranks during backward
            model.finish_gradient_sync()          # (a no-op when backward already finished it)
            opt.step()

(``cr.fit`` does all of this itself when the process was started by mpiexec.)

Outside mpiexec everything works as a world of one (rank 0 of 1) without importing mpi4py; importing
chainrule never imports it. Under mpiexec (detected from the launcher's environment variables:
``PMI_SIZE``/``PMI_RANK`` of MPICH's Hydra and Slurm's PMI, ``OMPI_COMM_WORLD_SIZE`` of Open MPI,
``PMIX_RANK``) mpi4py is needed, and its absence is a :class:`~chainrule.errors.MissingDependencyError`
naming the extra. The hot path uses only mpi4py's buffer-based calls (``Allreduce``, ``Iallreduce``,
``Bcast``: NumPy arrays passed as memory), never pickled objects.

Errors: :func:`init` installs an exception hook that, in a world of more than one, prints the
traceback and calls ``MPI_Abort``, so a rank that raises ends the whole job (the others may be blocked in
a collective call and would otherwise wait for ever).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import traceback

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, GraphError, missing
from .nn.module import Module
from .tensor import Tensor

__all__ = [
    "init",
    "is_initialized",
    "launched_size",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "all_reduce",
    "broadcast",
    "broadcast_parameters",
    "abort",
    "find_mpiexec",
    "DistributedDataParallel",
    "DistributedSampler",
]

_PURPOSE = "chainrule.distributed (training on several processes over MPI)"
_ABORT_GRACE_S = 0.5
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


class _World:
    comm = None  # mpi4py's COMM_WORLD once MPI is in use; None: a world of one without MPI
    MPI = None
    initialized = False
    hook_installed = False


_world = _World()


def launched_size() -> int:
    """The number of processes the launcher (mpiexec, srun) says it started, from its environment; 1 if none."""
    for var in _SIZE_VARS:
        v = os.environ.get(var)
        if v and v.strip().isdigit():
            return int(v)
    return 1


def find_mpiexec() -> str:
    """The ``mpiexec`` to launch ranks with: the one beside this Python (the MPICH wheel puts it in the
    virtual environment's ``bin``), else the first on PATH; a MissingDependencyError naming the extra if none."""
    import shutil

    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec")
    if found:
        return found
    raise missing("mpich", "mpi", "launching ranks with mpiexec (--nproc)")


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise missing("mpi4py", "mpi", _PURPOSE) from None
    return MPI


def init() -> None:
    """Start MPI when this process was launched by mpiexec (or srun) with more than one process, and install
    the exception hook that aborts the whole job when one rank fails. Outside mpiexec: a world of one (MPI is
    used if mpi4py is installed, else nothing is needed). Calling it again does nothing."""
    if _world.initialized:
        return
    if launched_size() > 1:
        _world.MPI = _import_mpi()
        _world.comm = _world.MPI.COMM_WORLD
    else:
        try:
            from mpi4py import MPI
        except ImportError:
            MPI = None
        if MPI is not None:
            _world.MPI, _world.comm = MPI, MPI.COMM_WORLD
    _world.initialized = True
    if _world.comm is not None and _world.comm.Get_size() > 1:
        _install_excepthook()


def is_initialized() -> bool:
    """Whether :func:`init` has run (the functions below call it when needed)."""
    return _world.initialized


def _comm():
    """COMM_WORLD in a world of more than one (starting MPI on first use); None in a world of one."""
    if not _world.initialized:
        if launched_size() <= 1:
            return None  # a world of one: no MPI needed (mpi4py is not even imported)
        init()
    comm = _world.comm
    if comm is None or comm.Get_size() == 1:
        return None
    return comm


def rank() -> int:
    """This process's rank (0 outside mpiexec)."""
    comm = _comm()
    return 0 if comm is None else comm.Get_rank()


def world_size() -> int:
    """The number of processes training together (1 outside mpiexec)."""
    comm = _comm()
    return 1 if comm is None else comm.Get_size()


def is_main() -> bool:
    """True on rank 0, the one that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank has reached this point (nothing to wait for in a world of one)."""
    comm = _comm()
    if comm is not None:
        comm.Barrier()


def abort(code: int = 1) -> None:
    """End every rank of the job now (``MPI_Abort``); in a world of one, exit this process with ``code``."""
    comm = _comm()
    if comm is not None:
        _abort(comm, code)
    raise SystemExit(code)


def _abort(comm, code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # give the launcher a moment to forward what this rank printed (the error): MPI_Abort tears the job
    # down at once, and mpiexec may drop output still in its pipes
    time.sleep(_ABORT_GRACE_S)
    comm.Abort(code)


def _install_excepthook() -> None:
    if _world.hook_installed:
        return
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            r = _world.comm.Get_rank()
            sys.stderr.write(f"chainrule.distributed: rank {r} failed; ending every rank of the job\n")
            if previous is sys.__excepthook__:
                traceback.print_exception(kind, value, tb)
            else:
                previous(kind, value, tb)
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            _abort(_world.comm, 1)

    sys.excepthook = hook
    _world.hook_installed = True


_OPS = ("sum", "mean", "max", "min")


def _array(x, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        a = x.data
    elif isinstance(x, np.ndarray):
        a = x
    else:
        raise ArgumentTypeError(f"{what}: expected a Tensor or a NumPy array, got {type(x).__name__}")
    if not (a.flags.c_contiguous and a.flags.writeable):
        raise ArgumentError(
            f"{what}: the array (shape {a.shape}) must be C-contiguous and writeable to be reduced in place; "
            "make it so with np.ascontiguousarray(...) first"
        )
    return a


def all_reduce(tensor, op: str = "sum"):
    """Reduce ``tensor`` (a Tensor or NumPy array) over the ranks, in place: every rank ends with the
    elementwise 'sum', 'mean', 'max' or 'min' of the ranks' values. Returns ``tensor``."""
    if op not in _OPS:
        raise ArgumentError(f"all_reduce: op must be one of {', '.join(map(repr, _OPS))}, got {op!r}")
    a = _array(tensor, "all_reduce")
    comm = _comm()
    if comm is None:
        return tensor
    MPI = _world.MPI
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    comm.Allreduce(MPI.IN_PLACE, a, op=mpi_op)
    if op == "mean":
        a /= comm.Get_size()
    return tensor


def broadcast(tensor, root: int = 0):
    """Overwrite ``tensor`` (a Tensor or NumPy array) on every rank with rank ``root``'s values; returns it."""
    a = _array(tensor, "broadcast")
    comm = _comm()
    if comm is not None:
        comm.Bcast(a, root=root)
    return tensor


def broadcast_parameters(module: Module, root: int = 0) -> None:
    """Give every rank rank ``root``'s parameters and buffers (in place, so optimizers keep their references)."""
    if not isinstance(module, Module):
        raise ArgumentTypeError(f"broadcast_parameters: expected a Module, got {type(module).__name__}")
    comm = _comm()
    if comm is None:
        return
    from .autograd import mark_modified

    tensors = [t for _, t in module.named_parameters()] + [t for _, t in module.named_buffers() if t is not None]
    for t in tensors:
        if not (t.data.flags.c_contiguous and t.data.flags.writeable):
            t.data = np.ascontiguousarray(t.data).copy()
        comm.Bcast(t.data, root=root)
    mark_modified(tensors)


# ----------------------------------------------------------------------------- DistributedDataParallel
class _Bucket:
    __slots__ = ("params", "offsets", "flat", "waiting", "ready", "request")

    def __init__(self, params, dtype):
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.data.size
        self.flat = np.empty(n, dtype)
        self.waiting = set()
        self.ready = False
        self.request = None


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients over the ranks, as PyTorch's DDP does.

    When wrapped, rank 0's parameters and buffers are broadcast to every rank. The parameters are grouped
    into buckets of about ``bucket_cap_mb`` megabytes, in reverse order of ``module.parameters()`` (the
    order in which backward completes them), one flat gradient buffer per bucket. During backward, a
    post-accumulate-grad hook on each parameter copies its gradient into its bucket; as soon as a bucket's
    gradients are all there, an in-place non-blocking ``Iallreduce`` of its buffer starts (buckets are
    started in their fixed order on every rank, as MPI requires), so communication overlaps the rest of
    backward. When the last bucket has started, backward waits for all of them and writes the averages
    back into the parameters' ``.grad``. If some parameter received no gradient in a backward (it was not
    used), the remaining buckets, with zeros for the missing gradients, are reduced by
    :meth:`finish_gradient_sync`, which ``fit`` calls after every backward (call it before
    ``optimizer.step()`` in your own loop when a model may leave parameters unused; otherwise it is a no-op).

    ``no_sync()`` turns the averaging off, for gradient accumulation: backward passes inside it only
    accumulate locally, and the first backward after it averages the accumulated sums.
    ``broadcast_buffers`` (default True, as in PyTorch) copies rank 0's buffers (BatchNorm's running
    statistics) to every rank at each forward in training mode.

    ``forward`` is the wrapped module's. ``state_dict()`` and ``load_state_dict()`` are the wrapped
    module's, without a ``module.`` prefix (PyTorch's DDP adds one): a checkpoint of a model trained on many
    ranks loads into the plain model; ``load_state_dict`` also accepts PyTorch DDP's ``module.``-prefixed keys.
    In a world of one the wrapper changes nothing. ``last_wait_s`` is the time the last step spent waiting
    for the reductions once every bucket had started (the communication backward did not hide), for profiling.
    """

    last_wait_s = 0.0

    def __init__(self, module: Module, bucket_cap_mb: float = 25, broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        if not (isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0):
            raise ArgumentError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers
        object.__setattr__(self, "_sync", True)
        object.__setattr__(self, "_comm", _comm())
        broadcast_parameters(module, 0)
        object.__setattr__(self, "_buckets", self._make_buckets())
        object.__setattr__(self, "_next", 0)  # the next bucket to start
        object.__setattr__(self, "_started", False)  # a reduction is under way (some bucket started)
        object.__setattr__(self, "_handles", [])
        object.__setattr__(self, "_where", {})  # id(param) -> (bucket, index in bucket)
        for b in self._buckets:
            for k, p in enumerate(b.params):
                self._where[id(p)] = (b, k)
                if self._comm is not None:
                    self._handles.append(p.register_post_accumulate_grad_hook(self._grad_ready))

    def _make_buckets(self) -> list:
        cap = self.bucket_cap_mb * 1024 * 1024
        params = [p for p in self.module.parameters() if p.requires_grad]
        buckets, current, size, dtype = [], [], 0, None
        for p in reversed(params):
            nbytes = p.data.nbytes
            if current and (p.data.dtype != dtype or size + nbytes > cap):
                buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(p)
            size += nbytes
            dtype = p.data.dtype
        if current:
            buckets.append(_Bucket(current, dtype))
        for b in buckets:
            b.waiting = {id(p) for p in b.params}
        return buckets

    @property
    def bucket_sizes(self) -> list[int]:
        """The number of gradient elements in each bucket, in the order they are reduced."""
        return [b.flat.size for b in self._buckets]

    def forward(self, *args, **kwargs):
        if self._started:
            self.finish_gradient_sync()  # the previous step's reduction, if backward left it unfinished
        if self.broadcast_buffers and self.training and self._comm is not None:
            for _, t in self.module.named_buffers():
                if t is not None:
                    self._comm.Bcast(t.data, root=0)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally without averaging them (gradient
        accumulation); the first backward after the block averages the sums."""
        old = self._sync
        object.__setattr__(self, "_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_sync", old)

    # ------------------------------------------------------------------ the reduction
    def _grad_ready(self, p) -> None:
        if not self._sync:
            return
        b, k = self._where[id(p)]
        if id(p) not in b.waiting:
            raise GraphError(
                "DistributedDataParallel: a parameter received its gradient twice before the gradients were "
                "averaged (two backward passes without an optimizer step, or a parameter shared by two "
                "modules?); use no_sync() for gradient accumulation"
            )
        o = b.offsets[k]
        b.flat[o : o + p.data.size] = p.grad.data.reshape(-1)
        b.waiting.discard(id(p))
        object.__setattr__(self, "_started", True)
        if not b.waiting:
            b.ready = True
            self._launch_ready()
            if self._next == len(self._buckets):
                self._wait_all()
                return
        if self._next:
            # MPI progresses non-blocking collectives only inside MPI calls (MPICH has no progress thread by
            # default): a test of the started ones at every gradient moves them along during backward
            _world.MPI.Request.Testall([b.request for b in self._buckets[: self._next]])

    def _launch_ready(self) -> None:
        buckets, MPI = self._buckets, _world.MPI
        while self._next < len(buckets) and buckets[self._next].ready:
            b = buckets[self._next]
            b.request = self._comm.Iallreduce(MPI.IN_PLACE, b.flat, op=MPI.SUM)
            object.__setattr__(self, "_next", self._next + 1)

    def finish_gradient_sync(self) -> None:
        """Complete the averaging of this step's gradients: start the buckets not yet started (zeros for
        parameters that got no gradient), wait for every reduction and write the averages into ``.grad``.
        Does nothing when backward already did (the usual case), in ``no_sync()``, or in a world of one."""
        if not self._started or self._comm is None:
            return
        for b in self._buckets[self._next :]:
            for k, p in enumerate(b.params):
                if id(p) in b.waiting:
                    o = b.offsets[k]
                    b.flat[o : o + p.data.size] = 0
            b.waiting.clear()
            b.ready = True
        self._launch_ready()
        self._wait_all()

    def _wait_all(self) -> None:
        MPI = _world.MPI
        t0 = time.perf_counter()
        MPI.Request.Waitall([b.request for b in self._buckets])
        object.__setattr__(self, "last_wait_s", time.perf_counter() - t0)
        n = self._comm.Get_size()
        for b in self._buckets:
            b.flat /= n
            for k, p in enumerate(b.params):
                o = b.offsets[k]
                avg = b.flat[o : o + p.data.size].reshape(p.data.shape)
                g = p.grad
                if g is not None and g.data.flags.writeable and g.data.shape == avg.shape:
                    np.copyto(g.data, avg)
                else:
                    p.grad = Tensor(avg.copy())
            b.request = None
            b.ready = False
            b.waiting = {id(p) for p in b.params}
        object.__setattr__(self, "_next", 0)
        object.__setattr__(self, "_started", False)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state, strict: bool = True):
        keys = list(state)
        if keys and all(k.startswith("module.") for k in keys):
            state = type(state)((k[len("module.") :], v) for k, v in state.items())
        return self.module.load_state_dict(state, strict)

    def extra_repr(self) -> str:
        return f"world_size={world_size()}, buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb}"


# ----------------------------------------------------------------------------- DistributedSampler
class DistributedSampler:
    """The indices of this rank's shard of ``dataset``, one epoch at a time (PyTorch's DistributedSampler).

    Each epoch the indices (shuffled with a generator seeded by ``seed + epoch`` when ``shuffle``, so every
    rank draws the same permutation; call :meth:`set_epoch` at each epoch's start) are split among
    ``num_replicas`` ranks, rank ``r`` taking positions ``r, r + num_replicas, ...``. Without ``drop_last``
    the list is first padded by repeating its first indices so that it divides evenly (every rank gets
    ``ceil(len / num_replicas)`` samples); with ``drop_last`` the tail is dropped instead. The permutation is
    NumPy's (``default_rng(seed + epoch).permutation``), not torch's ``randperm``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed: int = 0, drop_last=False):
        if num_replicas is None:
            num_replicas = world_size()
        if rank is None:
            rank = globals()["rank"]()
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ArgumentError(f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ArgumentError(f"DistributedSampler: rank must be in 0..{num_replicas - 1}, got {rank!r}")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch ``epoch`` (the same on every rank)."""
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch."""
        n = len(self.dataset)
        idx = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0:
                idx = np.concatenate([idx, np.resize(idx, pad)]) if n else idx
        else:
            idx = idx[: self.total_size]
        return idx[self.rank : self.total_size : self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
