"""chainrule.distributed with real MPI processes: `mpiexec -n 2 python script.py` in a subprocess, each run
under a timeout (a hang fails the test instead of stalling the suite). The references are independent runs:
one process with the whole batch, BatchNorm on the whole batch, PyTorch's DistributedSampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as dist

try:
    import mpi4py  # noqa: F401

    HAVE_MPI = True
except ImportError:  # pragma: no cover - only without the test extra
    HAVE_MPI = False

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")

requires_mpi = pytest.mark.skipif(
    not HAVE_MPI and not os.environ.get("CHAINRULE_REQUIRE_MPI"),
    reason="mpi4py not installed (pip install 'chainrule[mpi]')",
)


@pytest.fixture(autouse=True, scope="session")
def _mpi_must_exist_in_ci():
    if not HAVE_MPI and os.environ.get("CHAINRULE_REQUIRE_MPI"):
        pytest.fail("CHAINRULE_REQUIRE_MPI is set but mpi4py is not installed")


def _env(extra_path=None):
    env = dict(os.environ)
    path = [SRC] + ([extra_path] if extra_path else []) + [p for p in [env.get("PYTHONPATH")] if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"):
        env.pop(var, None)  # (a test run under mpiexec must not make its children think they are ranks)
    return env


def _write(tmp_path, name, code) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


def run_ranks(n, script, *args, timeout=60, env=None, cwd=None):
    """Run ``script`` on ``n`` ranks (n=None: a plain process, no mpiexec); return the CompletedProcess."""
    cmd = [sys.executable, script, *map(str, args)]
    if n is not None:
        cmd = [dist.find_mpiexec(), "-n", str(n), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or _env(), cwd=cwd)


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return res


# ----------------------------------------------------------------------------- scripts
# One epoch of a small float64 MLP over 512 samples in global batches of 128. With W ranks each rank takes
# its 128/W rows of every global batch; with `micro` > 1 it splits them further into micro-batches, all but
# the last under no_sync (gradient accumulation). Rank 0 saves the final weights.
DDP_EPOCH = """
    import contextlib, sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    micro, out, cap = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(512, 20)), rng.integers(0, 5, 512)
    W, R = dist.world_size(), dist.rank()
    cr.manual_seed(100 + R)  # a different start on every rank: wrapping must give all rank 0's weights
    model = cr.nn.Sequential(cr.nn.Linear(20, 32), cr.nn.Tanh(), cr.nn.Linear(32, 16), cr.nn.ReLU(),
                             cr.nn.Linear(16, 5)).double()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=cap)
    if R == 0:
        np.savez(out + ".start.npz", **model.state_dict())
    opt = cr.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    loss_fn = cr.nn.CrossEntropyLoss()
    B = 128 // W
    m = B // micro
    for s in range(0, 512, 128):
        opt.zero_grad()
        for k in range(micro):
            lo = s + R * B + k * m
            ctx = ddp.no_sync() if k < micro - 1 else contextlib.nullcontext()
            with ctx:
                loss = loss_fn(ddp(cr.tensor(X[lo : lo + m])), cr.tensor(y[lo : lo + m])) / micro
                loss.backward()
        ddp.finish_gradient_sync()
        opt.step()
    if R == 0:
        np.savez(out, **model.state_dict())
        print("buckets", ddp.bucket_sizes)
"""


def _weights(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@requires_mpi
@pytest.mark.parametrize("micro", [1, 2])
def test_two_ranks_equal_one_process_with_the_whole_batch(tmp_path, micro):
    script = _write(tmp_path, "ddp_epoch.py", DDP_EPOCH)
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    ok(run_ranks(None, script, 1, one, 25))  # one process, batch 128
    cap = 0.001  # ~1 KB buckets: several buckets, reduced while backward goes on
    res = ok(run_ranks(2, script, micro, two, cap))  # 2 ranks x batch 64 (x 2 micro-batches of 32)
    assert res.stdout.count("buckets [") == 1
    assert len(eval(res.stdout.splitlines()[0].split("buckets ")[1])) > 1
    a, b = _weights(one), _weights(two)
    assert _max_diff(a, b) < 1e-10
    # the weights moved (an epoch that changed nothing would pass the comparison trivially), from the same start
    assert _max_diff(_weights(str(one) + ".start.npz"), _weights(str(two) + ".start.npz")) == 0.0
    assert _max_diff(a, _weights(str(one) + ".start.npz")) > 1e-3


ALL_REDUCE = """
    import json, sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    r, w = dist.rank(), dist.world_size()
    out = {}
    base = np.arange(6, dtype=np.float64).reshape(2, 3)
    for op in ("sum", "mean", "max", "min"):
        t = cr.tensor(base * (r + 1) - 2 * r)
        dist.all_reduce(t, op)
        out[op] = t.data.tolist()
    b = np.full(3, float(r))
    dist.broadcast(b, root=1)
    out["bcast"], out["main"], out["size"] = b.tolist(), dist.is_main(), w
    dist.barrier()
    with open(f"{sys.argv[1]}/rank{r}.json", "w") as f:
        json.dump(out, f)
"""


@requires_mpi
def test_all_reduce_ops_and_broadcast(tmp_path):
    ok(run_ranks(2, _write(tmp_path, "ar.py", ALL_REDUCE), tmp_path))
    base = np.arange(6, dtype=np.float64).reshape(2, 3)
    vals = [base * (r + 1) - 2 * r for r in range(2)]
    want = {"sum": vals[0] + vals[1], "mean": (vals[0] + vals[1]) / 2}
    want["max"], want["min"] = np.maximum(*vals), np.minimum(*vals)
    for r in range(2):
        got = json.loads((tmp_path / f"rank{r}.json").read_text())
        for op, w in want.items():
            np.testing.assert_array_equal(np.array(got[op]), w)
        assert got["bcast"] == [1.0, 1.0, 1.0]
        assert got["main"] == (r == 0) and got["size"] == 2


FAILING = """
    import sys, time
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    model = dist.DistributedDataParallel(cr.nn.Linear(4, 2))
    if dist.rank() == 1:
        raise ValueError("rank 1 failed on purpose: bad batch 17")
    a = np.ones(1000)
    dist.all_reduce(a)  # rank 0 waits here for a rank that is gone
    time.sleep(60)
"""


def assert_the_job_ends_with(script, *shown):
    """Run ``script`` on 2 ranks: the job must fail within 10 s (never hang) and show every text in ``shown``."""
    start = time.monotonic()
    res = run_ranks(2, script, timeout=60)
    elapsed = time.monotonic() - start
    assert res.returncode != 0
    for text in shown:
        assert text in res.stderr
    assert elapsed < 10, f"the job took {elapsed:.1f} s to end after a rank failed: the other rank hung"


@requires_mpi
def test_a_failing_rank_ends_the_job_with_its_error(tmp_path):
    assert_the_job_ends_with(
        _write(tmp_path, "fail.py", FAILING), "rank 1 failed on purpose: bad batch 17", "ValueError"
    )


# A sitecustomize that makes `import mpi4py` fail, as on a machine without the extra.
BLOCK_MPI4PY = """
    import sys

    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "mpi4py" or name.startswith("mpi4py."):
                raise ImportError("No module named 'mpi4py' (blocked for the test)")
            return None

    sys.meta_path.insert(0, _Block())
"""

WITHOUT_MPI4PY = """
    import sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    assert "mpi4py" not in sys.modules
    if sys.argv[1] == "one":  # no launcher: a world of one, without mpi4py
        dist.init()
        model = dist.DistributedDataParallel(cr.nn.Linear(3, 2))
        a = np.ones(3)
        dist.all_reduce(a, "mean")
        n = len(list(dist.DistributedSampler(range(10))))
        print("world", dist.rank(), dist.world_size(), dist.is_main(), a.tolist(), n)
    else:
        try:
            dist.init()
        except cr.errors.MissingDependencyError as e:
            print("ERROR", e)
"""


def test_without_mpi4py_a_world_of_one_works_and_more_ranks_name_the_extra(tmp_path):
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(textwrap.dedent(BLOCK_MPI4PY))
    script = _write(tmp_path, "nompi.py", WITHOUT_MPI4PY)
    env = _env(str(block))
    res = ok(run_ranks(None, script, "one", env=env))
    assert "world 0 1 True [1.0, 1.0, 1.0] 10" in res.stdout
    env["PMI_SIZE"], env["PMI_RANK"] = "2", "0"  # what mpiexec would set
    res = ok(run_ranks(None, script, "launched", env=env))
    assert "ERROR" in res.stdout and "pip install 'chainrule[mpi]'" in res.stdout and "mpi4py" in res.stdout


def test_importing_chainrule_does_not_import_mpi4py():
    code = (
        "import sys, chainrule, chainrule.distributed as d; d.DistributedSampler(range(4)); "
        "print('mpi4py' in sys.modules)"
    )
    res = ok(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60))
    assert res.stdout.strip() == "False"


def test_world_of_one_without_mpiexec():
    # in this (non-MPI) test process: everything is a world of one and DDP changes nothing
    assert dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    dist.barrier()
    cr.manual_seed(0)
    model = cr.nn.Linear(5, 3).double()
    ref = {k: v.copy() for k, v in model.state_dict().items()}
    ddp = dist.DistributedDataParallel(model)
    assert set(ddp.state_dict()) == set(ref)  # no 'module.' prefix
    x = np.random.default_rng(1).normal(size=(7, 5))
    ddp(cr.tensor(x)).sum().backward()
    ddp.finish_gradient_sync()
    model2 = cr.nn.Linear(5, 3).double()
    model2.load_state_dict(ref)
    model2(cr.tensor(x)).sum().backward()
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)
    # PyTorch DDP's 'module.'-prefixed keys load too
    ddp.load_state_dict({"module." + k: v for k, v in ref.items()})
    t = cr.tensor([1.0, 2.0])
    assert dist.all_reduce(t, "mean") is t and t.data.tolist() == [1.0, 2.0]
    with pytest.raises(cr.errors.ArgumentError, match="op must be one of"):
        dist.all_reduce(t, "prod")


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (11, 4, False), (2, 5, False)])
def test_sampler_splits_as_pytorch_does(n, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    ours = [
        list(dist.DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last))
        for r in range(replicas)
    ]
    theirs = [list(TorchSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)) for r in range(replicas)]
    assert ours == theirs
    del torch
    # shuffled: every rank sees the same permutation, each epoch a different one; together the whole set
    shards = []
    for r in range(replicas):
        s = dist.DistributedSampler(range(n), replicas, r, shuffle=True, seed=3, drop_last=drop_last)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(s) == len(shards[-1]) == len(theirs[r])
    joined = sorted(i for sh in shards for i in sh)
    if not drop_last:
        assert set(joined) == set(range(n))
    else:
        assert len(set(joined)) == len(joined)
    s = dist.DistributedSampler(range(n), replicas, 0, shuffle=True, seed=3)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0 or n <= 2


def test_dataloader_with_a_sampler_follows_it():
    X = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    s = dist.DistributedSampler(cr.data.TensorDataset(X, y), num_replicas=2, rank=1, shuffle=False)
    loader = cr.data.DataLoader((X, y), batch_size=2, sampler=s)
    assert len(loader) == 3
    assert [yb.data.tolist() for _, yb in loader] == [[1, 3], [5, 7], [9]]
    with pytest.raises(cr.errors.ArgumentError, match="sampler"):
        cr.data.DataLoader((X, y), batch_size=2, shuffle=True, sampler=s)


def test_post_accumulate_grad_hook_sees_the_whole_gradient_once():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).normal(size=(3,))
    seen = []
    w = cr.tensor(a, requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    ((w * 3).sum() + (w * w).sum()).backward()
    tw = torch.tensor(a, requires_grad=True)
    tseen = []
    tw.register_post_accumulate_grad_hook(lambda t: tseen.append(t.grad.numpy().copy()))
    ((tw * 3).sum() + (tw * tw).sum()).backward()
    assert len(seen) == len(tseen) == 1
    np.testing.assert_allclose(seen[0], tseen[0])
    with pytest.raises(cr.errors.GraphError, match="only a leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


# ----------------------------------------------------------------------------- fit on several ranks
# fit on 512 samples for 2 epochs. On W ranks: batch 128/W per rank from fit's own DistributedSampler
# (shuffled with the seed). In one process: batch 128 from the same sampler for a world of one, so each
# global batch holds the same samples. mode "resume": train 1 epoch, then resume to 2 in a second call.
FIT = """
    import json, sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    out, mode, ckpt = sys.argv[1], sys.argv[2], sys.argv[3]
    W = dist.world_size()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(512, 12)), rng.integers(0, 4, 512)

    def run(epochs, resume):
        cr.manual_seed(7 + dist.rank())
        model = cr.nn.Sequential(cr.nn.Linear(12, 24), cr.nn.ReLU(), cr.nn.Linear(24, 4)).double()
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        if W == 1:
            ds = cr.data.TensorDataset(X, y)
            train = cr.data.DataLoader(ds, batch_size=128, sampler=dist.DistributedSampler(ds, shuffle=True, seed=3))
        else:
            train = (X, y)
        hist = cr.train.fit(model, cr.nn.CrossEntropyLoss(), opt, train, epochs, val=(X[:100], y[:100]), seed=3,
                      batch_size=128 // W, scheduler=sched, checkpoint_dir=ckpt if ckpt != "-" else None,
                      resume=resume, verbose=True, progress=False)
        return model, hist

    if mode == "resume":
        run(1, False)
        model, hist = run(2, True)
    else:
        model, hist = run(2, False)
    if dist.is_main():
        np.savez(out, **model.state_dict())
        with open(out + ".json", "w") as f:
            json.dump(hist.epochs, f)
"""


def _history(path):
    with open(str(path) + ".json") as f:
        return json.load(f)


@requires_mpi
def test_fit_on_two_ranks_equals_one_process_and_resumes(tmp_path):
    script = _write(tmp_path, "fit.py", FIT)
    one, two, resumed = tmp_path / "one.npz", tmp_path / "two.npz", tmp_path / "resumed.npz"
    ok(run_ranks(None, script, one, "once", "-"))
    res = ok(run_ranks(2, script, two, "once", tmp_path / "ck2"))
    assert _max_diff(_weights(one), _weights(two)) < 1e-10
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2) == 2
    for r1, r2 in zip(h1, h2):  # the training loss and accuracy reduced over the ranks, the same validation
        for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert abs(r1[k] - r2[k]) < 1e-10, (k, r1[k], r2[k])
    assert res.stdout.count("epoch   1") == 1  # only rank 0 prints
    assert os.listdir(tmp_path / "ck2") == ["checkpoint.npz"]
    # a 2-rank run stopped after epoch 1 and resumed (every rank reading rank 0's checkpoint) ends the same
    ok(run_ranks(2, script, resumed, "resume", tmp_path / "ck_resume"))
    assert _max_diff(_weights(two), _weights(resumed)) < 1e-12
    assert [r["loss"] for r in _history(resumed)] == pytest.approx([r["loss"] for r in h2], abs=1e-12)


FIT_FAILS = """
    import sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(512, 6)), rng.integers(0, 3, 512)
    calls = [0]
    ce = cr.nn.CrossEntropyLoss()

    def loss_fn(out, target):
        calls[0] += 1
        if dist.rank() == 1 and calls[0] == 3:
            raise RuntimeError("the loss of rank 1 broke on its third batch")
        return ce(out, target)

    model = cr.nn.Linear(6, 3).double()
    try:
        cr.train.fit(model, loss_fn, cr.optim.SGD(model.parameters(), lr=0.1), (X, y), 50, batch_size=8, progress=False)
    except Exception:
        pass  # caught by the script: fit itself must end the job, or rank 0 would wait for ever
    import time
    time.sleep(60)
"""


@requires_mpi
def test_fit_ends_every_rank_when_one_fails(tmp_path):
    assert_the_job_ends_with(
        _write(tmp_path, "fitfail.py", FIT_FAILS), "the loss of rank 1 broke on its third batch", "rank 1 of 2 failed"
    )


SYNC_BN = """
    import sys
    import numpy as np
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    R, W = dist.rank(), dist.world_size()
    rng = np.random.default_rng(0)
    res = {}
    for name, shape in (("1d", (64, 5)), ("2d", (64, 3, 4, 4))):
        X, V = rng.normal(size=shape) * 2 + 1, rng.normal(size=shape)
        B = 64 // W
        x = cr.tensor(X[R * B : (R + 1) * B], requires_grad=True)
        layer = (cr.nn.BatchNorm1d if len(shape) == 2 else cr.nn.BatchNorm2d)(shape[1]).double()
        if sys.argv[2] == "sync":
            layer = cr.nn.SyncBatchNorm.convert_sync_batchnorm(cr.nn.Sequential(layer))[0]
            assert type(layer).__name__ == "SyncBatchNorm"
        layer.weight.data[:] = np.arange(1, shape[1] + 1)
        layer.bias.data[:] = 0.5
        y = layer(x)
        (y * cr.tensor(V[R * B : (R + 1) * B])).sum().backward()
        gw, gb = layer.weight.grad.data.copy(), layer.bias.grad.data.copy()
        dist.all_reduce(gw), dist.all_reduce(gb)  # the whole batch's loss is the sum of the ranks'
        res[name + "_y"], res[name + "_gx"] = y.data, x.grad.data
        res[name + "_gw"], res[name + "_gb"] = gw, gb
        res[name + "_rm"], res[name + "_rv"] = layer.running_mean.data, layer.running_var.data
    np.savez(f"{sys.argv[1]}.{R}.npz", **res)
"""


@requires_mpi
def test_sync_batchnorm_on_two_ranks_equals_batchnorm_on_the_whole_batch(tmp_path):
    script = _write(tmp_path, "sbn.py", SYNC_BN)
    ok(run_ranks(None, script, tmp_path / "full", "plain"))  # BatchNorm, one process, batch 64
    ok(run_ranks(2, script, tmp_path / "sync", "sync"))  # SyncBatchNorm, 2 ranks x 32
    full = _weights(tmp_path / "full.0.npz")
    parts = [_weights(tmp_path / f"sync.{r}.npz") for r in range(2)]
    for key, want in full.items():
        if key.endswith(("_y", "_gx")):  # per-sample: the ranks' halves, in order
            got = np.concatenate([p[key] for p in parts])
        else:  # per channel: the same on both ranks
            got = parts[0][key]
            np.testing.assert_array_equal(parts[1][key], got)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10, err_msg=key)


def test_sync_batchnorm_in_a_world_of_one_is_batchnorm():
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(16, 3, 5, 5))
    bn = cr.nn.BatchNorm2d(3).double()
    sbn = cr.nn.SyncBatchNorm.convert_sync_batchnorm(cr.nn.Sequential(cr.nn.BatchNorm2d(3).double()))[0]
    outs = []
    for layer in (bn, sbn):
        x = cr.tensor(x0, requires_grad=True)
        (layer(x) ** 2).sum().backward()
        outs.append((x.grad.data, layer.running_var.data.copy(), layer.weight.grad.data))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


@requires_mpi
def test_cli_train_nproc_2(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "chainrule.cli", "train", "--dataset", "digits", "--epochs", "2", "--nproc", "2"]
    res = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=120, env=_env())
    ok(res)
    assert res.stdout.count("test accuracy") == 1 and res.stdout.count("chainrule train: digits") == 1
    assert {"model.npz", "history.json", "checkpoint.npz", "config.json"} <= set(os.listdir(out))
    with open(out / "history.json") as f:
        assert len(json.load(f)["epochs"]) == 2


def test_launching_without_mpiexec_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no mpiexec beside it
    monkeypatch.setenv("PATH", str(tmp_path))  # nor on PATH
    with pytest.raises(cr.errors.MissingDependencyError, match=r"pip install 'chainrule\[mpi\]'"):
        dist.find_mpiexec()


def test_post_accumulate_grad_hook_after_gradient_hooks_and_removal():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, -2.0, 3.0])
    got = []
    for lib in (cr, torch):
        w = lib.tensor(a, requires_grad=True)
        w.register_hook(lambda g: g * 2)  # the post-accumulate hook sees the hooked, accumulated gradient
        seen = []
        h = w.register_post_accumulate_grad_hook(lambda t, seen=seen: seen.append(np.array(t.grad.tolist())))
        (w * w).sum().backward()
        (w * 3).sum().backward()
        h.remove()
        (w * 3).sum().backward()  # removed: not called again
        got.append(seen)
    assert len(got[0]) == len(got[1]) == 2
    for x, y in zip(*got):
        np.testing.assert_allclose(x, y)
