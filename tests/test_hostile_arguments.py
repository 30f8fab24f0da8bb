"""Hostile and careless arguments: each is refused where it enters, with a ChainruleError that names
the function, the argument and the accepted range (never a raw NumPy traceback, never accepted
silently).

Where PyTorch refuses the same value, the test checks that it does too, so that "as PyTorch does"
is a measured claim: a value PyTorch accepts but chainrule refuses has no PyTorch call
(PyTorch builds a Conv2d with 0 channels, stride 0 or padding -1 and fails only when it is called, and it
checks the learning rate of a parameter group given as a dict only in the constructor's ``lr``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import checks, nn
from chainrule.errors import AllocationError, ArgumentError, ArgumentTypeError, ChainruleError, DTypeError, ShapeError
from chainrule.train import evaluate, fit, predict

from conftest import requires_torch, torch


def _param():
    return [cr.zeros(3, requires_grad=True)]


def _tparam():
    return [torch.zeros(3, requires_grad=True)]


# (id, chainrule call, expected error class, a regex the message must match, the PyTorch call or None)
OPTIMIZER_CASES = [
    (
        "adam-lr-nan",
        lambda: cr.optim.Adam(_param(), lr=math.nan),
        ArgumentError,
        r"Adam: lr must be in \[0, inf\), got nan",
        None,
    ),
    (
        "adam-lr-negative",
        lambda: cr.optim.Adam(_param(), lr=-0.1),
        ArgumentError,
        r"Adam: lr must be in \[0, inf\)",
        lambda: torch.optim.Adam(_tparam(), lr=-0.1),
    ),
    (
        "adam-lr-inf",
        lambda: cr.optim.Adam(_param(), lr=math.inf),
        ArgumentError,
        r"Adam: lr must be in \[0, inf\), got inf",
        None,
    ),
    (
        "adam-lr-string",
        lambda: cr.optim.Adam(_param(), lr="0.1"),
        ArgumentTypeError,
        r"Adam: lr must be a real number .* got '0.1' \(str\)",
        lambda: torch.optim.Adam(_tparam(), lr="0.1"),
    ),
    (
        "adam-eps-negative",
        lambda: cr.optim.Adam(_param(), eps=-1),
        ArgumentError,
        r"Adam: eps must be in \[0, inf\), got -1",
        lambda: torch.optim.Adam(_tparam(), eps=-1),
    ),
    (
        "adam-weight-decay-negative",
        lambda: cr.optim.Adam(_param(), weight_decay=-1),
        ArgumentError,
        r"Adam: weight_decay must be in \[0, inf\)",
        lambda: torch.optim.Adam(_tparam(), weight_decay=-1),
    ),
    (
        "adam-beta1-one",
        lambda: cr.optim.Adam(_param(), betas=(1.0, 0.999)),
        ArgumentError,
        r"Adam: betas\[0\] must be in \[0, 1\), got 1.0",
        lambda: torch.optim.Adam(_tparam(), betas=(1.0, 0.999)),
    ),
    (
        "adam-beta2-negative",
        lambda: cr.optim.Adam(_param(), betas=(0.9, -0.1)),
        ArgumentError,
        r"Adam: betas\[1\] must be in \[0, 1\)",
        lambda: torch.optim.Adam(_tparam(), betas=(0.9, -0.1)),
    ),
    (
        "adam-betas-not-a-pair",
        lambda: cr.optim.Adam(_param(), betas=0.9),
        ArgumentTypeError,
        r"Adam: betas must be a pair",
        lambda: torch.optim.Adam(_tparam(), betas=0.9),
    ),
    (
        "adamw-eps-negative",
        lambda: cr.optim.AdamW(_param(), eps=-1e-8),
        ArgumentError,
        r"AdamW: eps must be in",
        lambda: torch.optim.AdamW(_tparam(), eps=-1e-8),
    ),
    (
        "sgd-momentum-negative",
        lambda: cr.optim.SGD(_param(), lr=0.1, momentum=-0.5),
        ArgumentError,
        r"SGD: momentum must be in \[0, 1\], got -0.5",
        lambda: torch.optim.SGD(_tparam(), lr=0.1, momentum=-0.5),
    ),
    (
        "sgd-weight-decay-negative",
        lambda: cr.optim.SGD(_param(), lr=0.1, weight_decay=-1),
        ArgumentError,
        r"SGD: weight_decay must be in \[0, inf\)",
        lambda: torch.optim.SGD(_tparam(), lr=0.1, weight_decay=-1),
    ),
    (
        "sgd-dampening-negative",
        lambda: cr.optim.SGD(_param(), lr=0.1, momentum=0.9, dampening=-1),
        ArgumentError,
        r"SGD: dampening must be in \[0, 1\]",
        None,
    ),
    (
        "sgd-nesterov-without-momentum",
        lambda: cr.optim.SGD(_param(), lr=0.1, nesterov=True),
        ArgumentError,
        r"Nesterov momentum needs momentum > 0",
        lambda: torch.optim.SGD(_tparam(), lr=0.1, nesterov=True),
    ),
    (
        "rmsprop-alpha-negative",
        lambda: cr.optim.RMSprop(_param(), alpha=-1),
        ArgumentError,
        r"RMSprop: alpha must be in \[0, 1\]",
        lambda: torch.optim.RMSprop(_tparam(), alpha=-1),
    ),
    (
        "rmsprop-momentum-negative",
        lambda: cr.optim.RMSprop(_param(), momentum=-1),
        ArgumentError,
        r"RMSprop: momentum must be in",
        lambda: torch.optim.RMSprop(_tparam(), momentum=-1),
    ),
    (
        "adagrad-lr-decay-negative",
        lambda: cr.optim.Adagrad(_param(), lr_decay=-1),
        ArgumentError,
        r"Adagrad: lr_decay must be in \[0, inf\)",
        lambda: torch.optim.Adagrad(_tparam(), lr_decay=-1),
    ),
    (
        "adagrad-initial-accumulator-negative",
        lambda: cr.optim.Adagrad(_param(), initial_accumulator_value=-1),
        ArgumentError,
        r"initial_accumulator_value must be in",
        lambda: torch.optim.Adagrad(_tparam(), initial_accumulator_value=-1),
    ),
    (
        "lbfgs-history-zero",
        lambda: cr.optim.LBFGS(_param(), history_size=0),
        ArgumentError,
        r"LBFGS: history_size must be an integer >= 1, got 0",
        None,
    ),
    (
        "param-group-lr-negative",
        lambda: cr.optim.SGD([{"params": _param(), "lr": -1}], lr=0.1),
        ArgumentError,
        r"SGD: lr must be in \[0, inf\), got -1",
        None,
    ),
]

FIT_X, FIT_Y = np.ones((4, 3), np.float32), np.zeros(4, np.int64)


def _fit(**kw):
    model = nn.Sequential(nn.Linear(3, 2))
    args = dict(epochs=1)
    args.update(kw)
    data = args.pop("data", (FIT_X, FIT_Y))
    return fit(model, nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), data, **args)


FIT_CASES = [
    (
        "fit-epochs-float",
        lambda: _fit(epochs=2.5),
        ArgumentTypeError,
        r"fit: epochs must be an integer >= 0, got 2.5 \(float\)",
        None,
    ),
    (
        "fit-epochs-none",
        lambda: _fit(epochs=None),
        ArgumentTypeError,
        r"fit: epochs must be an integer >= 0, got None",
        None,
    ),
    (
        "fit-epochs-negative",
        lambda: _fit(epochs=-1),
        ArgumentError,
        r"fit: epochs must be an integer >= 0, got -1",
        None,
    ),
    (
        "fit-batch-size-zero",
        lambda: _fit(batch_size=0),
        ArgumentError,
        r"fit: batch_size must be an integer >= 1, got 0",
        None,
    ),
    (
        "fit-batch-size-float",
        lambda: _fit(batch_size=1.5),
        ArgumentTypeError,
        r"fit: batch_size must be an integer >= 1",
        None,
    ),
    (
        "fit-complex-inputs",
        lambda: _fit(data=(np.ones((4, 3), complex), FIT_Y)),
        DTypeError,
        r"TensorDataset: array 0: complex data \(complex128\) is not supported",
        None,
    ),
    (
        "fit-string-labels",
        lambda: _fit(data=(FIT_X, np.array(list("abcd")))),
        DTypeError,
        r"TensorDataset: array 1: data of dtype <U1 \(strings\)",
        None,
    ),
    (
        "fit-integer-inputs",
        lambda: _fit(data=(np.ones((4, 3), np.int64), FIT_Y)),
        DTypeError,
        r"linear: the input has dtype int64 and the weight has dtype float32",
        None,
    ),
    (
        "evaluate-batch-size-zero",
        lambda: evaluate(nn.Linear(3, 2), nn.CrossEntropyLoss(), (FIT_X, FIT_Y), batch_size=0),
        ArgumentError,
        r"evaluate: batch_size must be an integer >= 1, got 0",
        None,
    ),
    (
        "predict-batch-size-zero",
        lambda: predict(nn.Linear(3, 2), FIT_X, batch_size=0),
        ArgumentError,
        r"predict: batch_size must be an integer >= 1, got 0",
        None,
    ),
    (
        "tensor-dataset-scalar",
        lambda: cr.utils.data.TensorDataset(np.float32(1)),
        ShapeError,
        r"TensorDataset: array 0 is a scalar",
        None,
    ),
    (
        "dataloader-batch-size-zero",
        lambda: cr.utils.data.DataLoader((FIT_X, FIT_Y), batch_size=0),
        ArgumentError,
        r"DataLoader: batch_size must be a positive integer, got 0",
        lambda: torch.utils.data.DataLoader(torch.ones(4), batch_size=0),
    ),
]

LAYER_CASES = [
    (
        "linear-float-size",
        lambda: nn.Linear(3.5, 2),
        ArgumentTypeError,
        r"Linear: in_features must be an integer >= 1, got 3.5 \(float\)",
        lambda: torch.nn.Linear(3.5, 2),
    ),
    (
        "linear-negative-size",
        lambda: nn.Linear(3, -2),
        ArgumentError,
        r"Linear: out_features must be an integer >= 1, got -2",
        lambda: torch.nn.Linear(3, -2),
    ),
    (
        "linear-string-size",
        lambda: nn.Linear("3", 2),
        ArgumentTypeError,
        r"Linear: in_features must be an integer >= 1, got '3' \(str\)",
        lambda: torch.nn.Linear("3", 2),
    ),
    (
        "conv-zero-channels",
        lambda: nn.Conv2d(0, 3, 3),
        ArgumentError,
        r"Conv2d: in_channels must be an integer >= 1, got 0",
        None,
    ),
    (
        "conv-negative-kernel",
        lambda: nn.Conv2d(1, 3, -1),
        ArgumentError,
        r"Conv2d: kernel_size must be an integer >= 1, got -1",
        lambda: torch.nn.Conv2d(1, 3, -1),
    ),
    (
        "conv-zero-stride",
        lambda: nn.Conv2d(1, 3, 3, stride=(1, 0)),
        ArgumentError,
        r"Conv2d: stride\[1\] must be an integer >= 1, got 0",
        None,
    ),
    (
        "conv-negative-padding",
        lambda: nn.Conv1d(1, 3, 3, padding=-1),
        ArgumentError,
        r"Conv1d: padding must be an integer >= 0, got -1",
        None,
    ),
    (
        "conv-float-groups",
        lambda: nn.Conv2d(4, 4, 3, groups=2.0),
        ArgumentTypeError,
        r"Conv2d: groups must be an integer >= 1, got 2.0",
        None,
    ),
    (
        "gru-zero-hidden",
        lambda: nn.GRU(3, 0),
        ArgumentError,
        r"GRU: hidden_size must be an integer >= 1, got 0",
        lambda: torch.nn.GRU(3, 0),
    ),
    (
        "lstm-float-input",
        lambda: nn.LSTM(2.5, 4),
        ArgumentTypeError,
        r"LSTM: input_size must be an integer >= 1, got 2.5",
        lambda: torch.nn.LSTM(2.5, 4),
    ),
    (
        "embedding-negative",
        lambda: nn.Embedding(-1, 3),
        ArgumentError,
        r"Embedding: num_embeddings must be an integer >= 1, got -1",
        lambda: torch.nn.Embedding(-1, 3),
    ),
    (
        "batchnorm-zero-features",
        lambda: nn.BatchNorm1d(0),
        ArgumentError,
        r"BatchNorm1d: num_features must be an integer >= 1, got 0",
        None,
    ),
    (
        "batchnorm-negative-eps",
        lambda: nn.BatchNorm2d(3, eps=-1e-5),
        ArgumentError,
        r"BatchNorm2d: eps must be in \(0, inf\), got -1e-05",
        None,
    ),
    (
        "groupnorm-float-groups",
        lambda: nn.GroupNorm(2.0, 4),
        ArgumentTypeError,
        r"GroupNorm: num_groups must be an integer >= 1",
        None,
    ),
    (
        "layernorm-negative-shape",
        lambda: nn.LayerNorm((3, -1)),
        ArgumentError,
        r"LayerNorm: shape \(3, -1\) has the negative dimension -1",
        None,
    ),
    (
        "linear-too-large",
        lambda: nn.Linear(10**6, 10**6),
        AllocationError,
        r"Linear: a tensor of shape \(1000000, 1000000\) and dtype float32 needs 3.64 TiB \(4000000000000 bytes\)",
        None,
    ),
    (
        "gru-too-large",
        lambda: nn.GRU(10**6, 10**6),
        AllocationError,
        r"GRU: a tensor of shape \(3000000, 1000000\) and dtype float32 needs",
        None,
    ),
    (
        "batchnorm-integer-input",
        lambda: nn.BatchNorm1d(3)(cr.tensor(np.ones((2, 3), np.int64))),
        DTypeError,
        r"batch_norm: the input must be a floating-point tensor, got dtype int64",
        lambda: torch.nn.BatchNorm1d(3)(torch.ones((2, 3), dtype=torch.int64)),
    ),
    (
        "layernorm-integer-input",
        lambda: nn.LayerNorm(3)(cr.tensor(np.ones((2, 3), np.int64))),
        DTypeError,
        r"layer_norm: the input must be a floating-point tensor, got dtype int64",
        lambda: torch.nn.LayerNorm(3)(torch.ones((2, 3), dtype=torch.int64)),
    ),
    (
        "groupnorm-integer-input",
        lambda: nn.GroupNorm(1, 3)(cr.tensor(np.ones((2, 3), np.int64))),
        DTypeError,
        r"group_norm: the input must be a floating-point tensor",
        lambda: torch.nn.GroupNorm(1, 3)(torch.ones((2, 3), dtype=torch.int64)),
    ),
    (
        "linear-integer-input",
        lambda: nn.Linear(3, 2)(cr.tensor(np.ones((2, 3), np.int64))),
        DTypeError,
        r"linear: the input has dtype int64 and the weight has dtype float32",
        lambda: torch.nn.Linear(3, 2)(torch.ones((2, 3), dtype=torch.int64)),
    ),
    (
        "conv-integer-input",
        lambda: nn.Conv2d(1, 2, 3)(cr.tensor(np.ones((1, 1, 5, 5), np.int64))),
        DTypeError,
        r"conv2d: input must be a float tensor, got dtype int64",
        lambda: torch.nn.Conv2d(1, 2, 3)(torch.ones((1, 1, 5, 5), dtype=torch.int64)),
    ),
    (
        "cross-entropy-zero-classes",
        lambda: nn.functional.cross_entropy(cr.zeros((2, 0)), cr.tensor([0, 0])),
        ShapeError,
        r"cross_entropy: the input \(2, 0\) has 0 classes",
        lambda: torch.nn.functional.cross_entropy(torch.zeros((2, 0)), torch.tensor([0, 0])),
    ),
    (
        "dropout-string",
        lambda: nn.Dropout("0.5"),
        ArgumentTypeError,
        r"Dropout: p must be a real number in \[0, 1\], got '0.5' \(str\)",
        None,
    ),
    (
        "leaky-relu-string",
        lambda: nn.LeakyReLU("a"),
        ArgumentTypeError,
        r"LeakyReLU: negative_slope must be a real number",
        None,
    ),
]

DATA_CASES = [
    (
        "tensor-complex",
        lambda: cr.tensor([1 + 2j]),
        DTypeError,
        r"tensor: complex data \(complex128\) is not supported: chainrule's tensors are real",
        None,
    ),
    (
        "tensor-complex-dtype",
        lambda: cr.tensor([1.0], dtype=np.complex64),
        DTypeError,
        r"tensor: complex data \(complex64\)",
        None,
    ),
    (
        "tensor-object-array",
        lambda: cr.tensor(np.array([1, None], dtype=object)),
        DTypeError,
        r"tensor: data of dtype object \(Python objects\) cannot be a tensor",
        lambda: torch.tensor(np.array([1, None], dtype=object)),
    ),
    (
        "tensor-string-array",
        lambda: cr.tensor(np.array(["a", "b"])),
        DTypeError,
        r"tensor: data of dtype <U1 \(strings\) cannot be a tensor",
        lambda: torch.tensor(np.array(["a", "b"])),
    ),
    (
        "tensor-string",
        lambda: cr.tensor("abc"),
        DTypeError,
        r"tensor: data of dtype <U3 \(strings\)",
        lambda: torch.tensor("abc"),
    ),
    (
        "tensor-bytes",
        lambda: cr.tensor(b"abc"),
        DTypeError,
        r"tensor: data of dtype \|S3 \(bytes\)",
        lambda: torch.tensor(b"abc"),
    ),
    (
        "tensor-dates",
        lambda: cr.tensor(np.array(["2026-01-01"], dtype="datetime64[D]")),
        DTypeError,
        r"\(dates\) cannot be a tensor",
        None,
    ),
    (
        "from-numpy-complex",
        lambda: cr.from_numpy(np.ones(2, np.complex64)),
        DTypeError,
        r"from_numpy: complex data",
        None,
    ),
    (
        "as-tensor-objects",
        lambda: cr.as_tensor(np.array([object()])),
        DTypeError,
        r"tensor: data of dtype object",
        None,
    ),
    (
        "zeros-negative",
        lambda: cr.zeros((-1, 3)),
        ArgumentError,
        r"zeros: shape \(-1, 3\) has the negative dimension -1; dimensions must be >= 0",
        lambda: torch.zeros((-1, 3)),
    ),
    (
        "ones-float-dimension",
        lambda: cr.ones(2.5),
        ArgumentTypeError,
        r"ones: shape \(2.5,\) has the dimension 2.5 \(float\); dimensions are integers",
        lambda: torch.ones(2.5),
    ),
    (
        "full-negative",
        lambda: cr.full((-2,), 1.0),
        ArgumentError,
        r"full: shape \(-2,\) has the negative dimension -2",
        lambda: torch.full((-2,), 1.0),
    ),
    (
        "randn-negative",
        lambda: cr.randn(3, -3),
        ArgumentError,
        r"randn: shape \(3, -3\) has the negative dimension -3",
        lambda: torch.randn(3, -3),
    ),
    (
        "eye-negative",
        lambda: cr.eye(-2),
        ArgumentError,
        r"eye: shape \(-2, -2\) has the negative dimension -2",
        lambda: torch.eye(-2),
    ),
    (
        "randint-negative-size",
        lambda: cr.randint(10, (-1,)),
        ArgumentError,
        r"randint: shape \(-1,\) has the negative dimension -1",
        lambda: torch.randint(10, (-1,)),
    ),
    (
        "randperm-negative",
        lambda: cr.randperm(-3),
        ArgumentError,
        r"randperm: n must be an integer >= 0, got -3",
        lambda: torch.randperm(-3),
    ),
    (
        "zeros-too-large",
        lambda: cr.zeros((10**6, 10**6)),
        AllocationError,
        r"zeros: a tensor of shape \(1000000, 1000000\) and dtype float32 needs 3.64 TiB \(4000000000000 bytes\)",
        None,
    ),
    (
        "ones-too-large",
        lambda: cr.ones(10**13),
        AllocationError,
        r"ones: a tensor of shape \(10000000000000,\) and dtype float32 needs 36.4 TiB",
        None,
    ),
    (
        "empty-too-large",
        lambda: cr.empty(10**7, 10**7, dtype=np.float64),
        AllocationError,
        r"empty: a tensor of shape \(10000000, 10000000\) and dtype float64 needs 728 TiB",
        None,
    ),
    (
        "randn-too-large",
        lambda: cr.randn(10**6, 10**6),
        AllocationError,
        r"randn: a tensor of shape \(1000000, 1000000\)",
        None,
    ),
    (
        "reshape-below-minus-one",
        lambda: cr.ones(6).reshape(-2, 3),
        ShapeError,
        r"reshape: invalid shape \(-2, 3\): dimensions are integers >= 0, and one of them may be -1",
        lambda: torch.ones(6).reshape(-2, 3),
    ),
    (
        "reshape-two-inferred",
        lambda: cr.ones(6).reshape(-1, -1),
        ShapeError,
        r"reshape: invalid shape \(-1, -1\): only one dimension can be inferred",
        lambda: torch.ones(6).reshape(-1, -1),
    ),
    (
        "linspace-negative-steps",
        lambda: cr.linspace(0, 1, -1),
        ArgumentError,
        r"linspace: steps must be an integer >= 0, got -1",
        lambda: torch.linspace(0, 1, -1),
    ),
    (
        "arange-too-large",
        lambda: cr.arange(10**13),
        AllocationError,
        r"arange: a tensor of shape \(10000000000000,\)",
        None,
    ),
]

CASES = OPTIMIZER_CASES + FIT_CASES + LAYER_CASES + DATA_CASES


@pytest.mark.parametrize(("call", "error", "message"), [c[1:4] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_argument_is_refused_with_a_message_naming_it(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, ChainruleError)
    assert re.search(message, str(info.value)), str(info.value)


TORCH_CASES = [c for c in CASES if c[4] is not None]


@requires_torch
@pytest.mark.parametrize("torch_call", [c[4] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES])
def test_pytorch_refuses_the_same_value(torch_call):
    with pytest.raises((ValueError, TypeError, RuntimeError, IndexError)):
        torch_call()


def test_every_case_has_a_distinct_name():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))


def test_the_allocation_limit_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.setenv("CHAINRULE_MAX_ALLOC_BYTES", "1000")
    assert checks.max_alloc_bytes() == 1000
    cr.zeros(250)  # 1000 bytes of float32: allowed
    with pytest.raises(AllocationError, match=r"zeros: a tensor of shape \(251,\) and dtype float32 needs 1004 bytes"):
        cr.zeros(251)
    monkeypatch.setenv("CHAINRULE_MAX_ALLOC_BYTES", "lots")
    with pytest.raises(ArgumentError, match="CHAINRULE_MAX_ALLOC_BYTES must be a whole number of bytes, got 'lots'"):
        cr.zeros(1)


def test_the_default_allocation_limit_is_the_physical_memory(monkeypatch):
    monkeypatch.delenv("CHAINRULE_MAX_ALLOC_BYTES", raising=False)
    import os

    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert checks.max_alloc_bytes() == pages
    # a tensor of about half the machine's memory is not refused by the check (only the check is run here)
    assert checks.allocation("zeros", (pages // 2,), np.uint8) == (pages // 2,)


def test_an_allocation_error_is_still_a_memory_error():
    """Code written to catch NumPy's MemoryError keeps working."""
    with pytest.raises(MemoryError):
        cr.zeros((10**6, 10**6))


def test_accepted_edges_stay_accepted():
    """The ranges are not stricter than they say: their edges are accepted."""
    p = _param()
    cr.optim.SGD(p, lr=0.0, momentum=1.0, dampening=1.0, weight_decay=0.0)
    cr.optim.Adam(p, lr=0, betas=(0.0, 0.0), eps=0.0)
    cr.optim.RMSprop(p, alpha=1.0, momentum=0.0)
    cr.optim.Adagrad(p, lr_decay=0.0, initial_accumulator_value=0.0)
    cr.optim.Adam(p, lr=np.float32(1e-3), betas=[np.float64(0.9), 0.999])  # NumPy numbers and a list of betas
    assert cr.zeros((0, 3)).shape == (0, 3)
    assert cr.zeros(np.int64(2), 3).shape == (2, 3)
    assert nn.Linear(np.int64(3), 2).weight.shape == (2, 3)
    assert cr.tensor([True, False]).dtype == np.bool_
    assert _fit(epochs=0, batch_size=np.int64(2)).epochs == []


def test_nothing_was_stepped_when_an_argument_is_refused():
    """A refused argument leaves the caller's objects as they were."""
    model = nn.Linear(3, 2)
    before = model.weight.data.copy()
    with pytest.raises(ArgumentError):
        fit(
            model,
            nn.CrossEntropyLoss(),
            cr.optim.SGD(model.parameters(), lr=0.1),
            (FIT_X, FIT_Y),
            epochs=1,
            batch_size=0,
        )
    np.testing.assert_array_equal(model.weight.data, before)
