"""Containers and Module's traversal, registration and conversion, compared with PyTorch's behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from conftest import requires_torch, torch

UnsupportedError = cr.errors.UnsupportedError


def _keys(m):
    return list(m.state_dict().keys())


# ------------------------------------------------------------------------------ ModuleList
@requires_torch
def test_module_list_registers_its_items_like_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)])

    net, tnet = Net(), TNet()
    assert _keys(net) == list(tnet.state_dict().keys())
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert len(list(net.parameters())) == 4
    assert net(cr.ones((5, 2))).shape == (5, 1)
    opt = cr.optim.SGD(net.parameters(), lr=0.1)  # the optimizer sees every parameter in the list
    assert sum(len(g["params"]) for g in opt.param_groups) == 4


@requires_torch
def test_module_list_editing_renumbers_like_torch():
    def build(lib):
        return lib.ModuleList([lib.Linear(1, 1), lib.Linear(1, 2), lib.Linear(1, 3)])

    ml, tl = build(nn), build(torch.nn)
    for m in (ml, tl):
        m.append(type(m[0])(1, 4))
        m.insert(1, type(m[0])(1, 5))
        del m[0]
        m.extend([type(m[0])(1, 6)])
        m += [type(m[0])(1, 7)]
        popped = m.pop(2)
        assert popped.out_features == 3
    assert [layer.out_features for layer in ml] == [layer.out_features for layer in tl] == [5, 2, 4, 6, 7]
    assert _keys(ml) == list(tl.state_dict().keys())
    assert len(ml) == 5 and ml[-1].out_features == 7
    sub = ml[1:3]
    assert isinstance(sub, nn.ModuleList) and [layer.out_features for layer in sub] == [2, 4]
    assert sub[0] is ml[1]  # slicing shares the modules
    both = ml + nn.ModuleList([nn.Identity()])
    assert isinstance(both, nn.ModuleList) and len(both) == 6
    ml[0] = nn.Linear(1, 9)
    assert ml[0].out_features == 9


def test_module_list_errors():
    ml = nn.ModuleList([nn.ReLU()])
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="out of range"):
        ml[3]
    with pytest.raises(cr.errors.ArgumentTypeError, match="Module"):
        ml.append(3)
    with pytest.raises(cr.errors.ArgumentTypeError, match="iterable of Modules"):
        ml.extend(nn.ReLU())
    with pytest.raises(UnsupportedError, match="container"):
        ml(cr.ones(2))


# ------------------------------------------------------------------------------ ModuleDict
@requires_torch
def test_module_dict_is_an_ordered_registered_dict_like_torch():
    md = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    td = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 3), "dec": torch.nn.Linear(3, 2)})
    for d, lin in ((md, nn.Linear), (td, torch.nn.Linear)):
        d.update([("head", lin(2, 1)), ("enc", lin(2, 4))])  # a new key is appended, an old one replaced in place
        d["aux"] = lin(1, 1)
        del d["dec"]
    assert list(md) == list(td) == ["enc", "head", "aux"]
    assert list(md.keys()) == list(td.keys())
    assert md["enc"].out_features == 4
    assert _keys(md) == list(td.state_dict().keys())
    assert "head" in md and "dec" not in md and len(md) == 3
    assert [type(v).__name__ for v in md.values()] == ["Linear"] * 3
    assert md.pop("aux").out_features == 1 and list(md) == ["enc", "head"]
    md.clear()
    assert len(md) == 0 and list(md.parameters()) == []


def test_module_dict_errors():
    md = nn.ModuleDict()
    with pytest.raises(cr.errors.NotFoundError, match="no module under the key 'x'"):
        md["x"]
    with pytest.raises(cr.errors.ArgumentError, match="already exists"):
        md["keys"] = nn.ReLU()  # would hide the method, as PyTorch refuses too
    with pytest.raises(cr.errors.ArgumentError, match="contain no '.'"):
        md["a.b"] = nn.ReLU()
    with pytest.raises(cr.errors.ArgumentTypeError, match="Module"):
        md["a"] = np.ones(2)


# ------------------------------------------------------------------------------ ParameterList / ParameterDict
@requires_torch
def test_parameter_list_and_dict_register_parameters_like_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([np.ones((2, 2)), cr.zeros(3)])
            self.ws.append(nn.Parameter(np.full(1, 2.0)))
            self.scales = nn.ParameterDict({"a": cr.ones(2)})
            self.scales.update({"b": np.zeros(1)})

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = torch.nn.ParameterList([torch.ones(2, 2), torch.zeros(3)])
            self.ws.append(torch.nn.Parameter(torch.full((1,), 2.0)))
            self.scales = torch.nn.ParameterDict({"a": torch.ones(2)})
            self.scales.update({"b": torch.zeros(1)})

    net, tnet = Net(), TNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert _keys(net) == list(tnet.state_dict().keys())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.ws)
    assert [p.shape for p in net.ws] == [(2, 2), (3,), (1,)]
    assert list(net.scales) == ["a", "b"] and list(net.scales.keys()) == ["a", "b"]
    assert isinstance(net.scales["b"], nn.Parameter)
    assert net.scales.get("zz") is None and "a" in net.scales
    t = cr.ones(2)
    net.ws[1] = t  # a plain Tensor becomes a Parameter sharing its memory
    assert isinstance(net.ws[1], nn.Parameter) and np.shares_memory(net.ws[1].data, t.data)
    sub = net.ws[:2]
    assert isinstance(sub, nn.ParameterList) and len(sub) == 2 and sub[0] is net.ws[0]
    assert net.scales.pop("a").shape == (2,)
    assert [n for n, _ in net.named_parameters()] == ["ws.0", "ws.1", "ws.2", "scales.b"]
    # a model built of these trains: the gradients reach every parameter
    loss = sum((p * p).sum() for p in net.parameters())
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


# ------------------------------------------------------------------------------ plain containers are refused
@pytest.mark.parametrize(
    "value, container",
    [
        ([nn.Linear(1, 1), nn.ReLU()], "ModuleList"),
        ((nn.ReLU(),), "ModuleList"),
        ({"a": nn.ReLU()}, "ModuleDict"),
        ([nn.Parameter(np.ones(1))], "ParameterList"),
        ({"w": nn.Parameter(np.ones(1))}, "ParameterDict"),
    ],
)
def test_assigning_a_plain_list_or_dict_of_modules_is_refused(value, container):
    m = nn.Module()
    with pytest.raises(cr.errors.ArgumentTypeError, match=rf"cr\.nn\.{container}") as e:
        m.layers = value
    assert "parameters()" in str(e.value)


def test_other_lists_and_dicts_are_plain_attributes():
    m = nn.Module()
    m.sizes = [1, 2, 3]
    m.cfg = {"lr": 0.1}
    m.empty = []
    m.tensors = [cr.ones(2)]  # plain tensors are not parameters, in PyTorch either
    assert m.sizes == [1, 2, 3] and list(m.parameters()) == []


# ------------------------------------------------------------------------------ traversal and apply
def _tree(lib):
    shared = lib.Linear(2, 2)
    seq = lib.Sequential(lib.Linear(2, 2), shared)
    root = lib.Sequential(seq, lib.Sequential(shared, lib.ReLU()), lib.Tanh())
    return root, shared


@requires_torch
def test_modules_named_modules_and_children_match_torch():
    root, _ = _tree(nn)
    troot, _ = _tree(torch.nn)
    assert [n for n, _ in root.named_modules()] == [n for n, _ in troot.named_modules()]
    assert [n for n, _ in root.named_modules(remove_duplicate=False)] == [
        n for n, _ in troot.named_modules(remove_duplicate=False)
    ]
    assert [n for n, _ in root.named_modules(prefix="net")] == [n for n, _ in troot.named_modules(prefix="net")]
    assert [type(m).__name__ for m in root.modules()] == [type(m).__name__ for m in troot.modules()]
    assert [n for n, _ in root.named_children()] == [n for n, _ in troot.named_children()]
    assert [type(m).__name__ for m in root.children()] == [type(m).__name__ for m in troot.children()]
    memo = {root[2]}
    assert [n for n, _ in root.named_modules(memo)] == [n for n, _ in troot.named_modules({troot[2]})]
    assert root in memo  # the memo collects what was visited, as in PyTorch


@requires_torch
def test_apply_visits_children_first_like_torch():
    seen, tseen = [], []
    root, shared = _tree(nn)
    troot, _ = _tree(torch.nn)
    assert root.apply(lambda m: seen.append(type(m).__name__)) is root
    troot.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen  # post-order; a shared module is visited under each parent, as in PyTorch

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    root.apply(init)
    assert np.all(shared.weight.numpy() == 0.5)


# ------------------------------------------------------------------------------ buffers
class _WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("steps", np.zeros(1, np.int64))
        self.register_buffer("cache", np.ones(3, np.float32), persistent=False)


def _torch_with_buffers():
    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)
            self.register_buffer("steps", torch.zeros(1, dtype=torch.int64))
            self.register_buffer("cache", torch.ones(3), persistent=False)

    return T()


@requires_torch
def test_non_persistent_buffers_stay_out_of_the_state_like_torch():
    m, t = _WithBuffers(), _torch_with_buffers()
    assert _keys(m) == list(t.state_dict().keys()) == ["steps", "lin.weight", "lin.bias"]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()] == ["steps", "cache"]
    assert len(list(m.buffers())) == 2
    m2 = _WithBuffers()
    assert m2.load_state_dict(m.state_dict()) == ([], [])  # strict: the cache is neither missing nor expected
    m.register_buffer("cache", np.ones(3), persistent=True)  # registering again changes it
    assert "cache" in m.state_dict()


def test_register_names_follow_torch_rules():
    m = nn.Module()
    with pytest.raises(cr.errors.ArgumentError, match="contain no '.'"):
        m.register_buffer("a.b", np.ones(1))
    m.x = 3
    with pytest.raises(cr.errors.ArgumentError, match="attribute 'x' already exists"):
        m.register_buffer("x", np.ones(1))
    with pytest.raises(cr.errors.ArgumentError, match="already exists"):
        m.register_buffer("train", np.ones(1))
    with pytest.raises(cr.errors.ArgumentTypeError, match="Parameter"):
        m.register_parameter("w", np.ones(1))
    m.register_module("sub", nn.ReLU())
    assert isinstance(m.sub, nn.ReLU)


# ------------------------------------------------------------------------------ requires_grad_, to, devices
def test_requires_grad_toggles_every_parameter():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net[1].requires_grad_()
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True]


@requires_torch
def test_to_dtype_converts_in_place_like_torch():
    m, t = _WithBuffers(), _torch_with_buffers()
    params = list(m.parameters())
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    m.lin.weight.grad = cr.ones((2, 2))
    assert m.to(np.float64) is m
    t.lin.weight.grad = torch.ones(2, 2)
    t.to(torch.float64)
    assert list(m.parameters())[0] is params[0]  # the same Parameter objects: the optimizer still has them
    for (n, p), (tn, tp) in zip(m.named_parameters(), t.named_parameters()):
        assert n == tn and p.dtype == np.float64 and tp.dtype == torch.float64
    assert m.lin.weight.grad.dtype == np.float64 and t.lin.weight.grad.dtype == torch.float64
    assert m.steps.dtype == np.int64 and t.steps.dtype == torch.int64  # integer buffers keep their dtype
    assert m.cache.dtype == np.float64 and t.cache.dtype == torch.float64  # non-persistent ones convert
    loss = m.lin(cr.ones((1, 2), dtype=np.float64)).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert m.lin.weight.dtype == np.float64
    assert m.to("cpu", np.float32) is m and m.lin.weight.dtype == np.float32
    m.to(device="cpu", dtype=np.float64, non_blocking=True)
    assert m.lin.bias.dtype == np.float64
    m.to(cr.ones(1, dtype=np.float32))
    assert m.lin.bias.dtype == np.float32
    assert m.cpu() is m and m.to("cpu:0") is m
    assert m.double().lin.weight.dtype == np.float64 and m.float().lin.weight.dtype == np.float32


@pytest.mark.parametrize(
    "call", [lambda m: m.to("cuda"), lambda m: m.to("mps"), lambda m: m.to(device="cuda:0"), lambda m: m.cuda()]
)
def test_other_devices_are_an_error_saying_chainrule_computes_on_the_cpu(call):
    m = nn.Linear(2, 2)
    with pytest.raises(UnsupportedError, match="chainrule computes on the CPU"):
        call(m)


def test_to_refuses_integer_dtypes_and_nonsense():
    m = nn.Linear(2, 2)
    with pytest.raises(cr.errors.DTypeError, match="floating-point"):
        m.to(np.int64)
    with pytest.raises(cr.errors.ArgumentTypeError, match="unexpected keyword"):
        m.to(dtyp=np.float64)
    assert m.weight.dtype == np.float32
