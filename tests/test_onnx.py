"""ONNX export (chainrule.onnx): every layer and operation with an ONNX counterpart, and every model the command
line trains, written as ONNX, checked by onnx's checker and run by onnxruntime, whose outputs must equal
chainrule's within 1e-5 (float32), for the example's batch size and for another one."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, runs
from chainrule.cli import main
from chainrule.errors import ArgumentError, MissingDependencyError, UnsupportedError

if os.environ.get("CI"):  # in the test extra: CI runs these tests, never skips them
    import onnx
    import onnxruntime as ort
else:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

F = nn.functional
TOL = 1e-5


class Fn(nn.Module):
    """A module whose forward is ``fn(x, *params)``: one small model per operation."""

    def __init__(self, fn, *shapes, seed=0):
        super().__init__()
        self.fn = fn
        rng = np.random.default_rng(seed)
        self.ps = nn.ParameterList([nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes])

    def forward(self, x):
        return self.fn(x, *self.ps)


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def roundtrip(model, x, other=None, tol=TOL, opset=17, path=None, **kw):
    """Export ``model`` on example ``x``, check the file, and compare onnxruntime with chainrule on ``x`` and on
    ``other`` (by default a batch of another size)."""
    model.eval()
    proto = cr.onnx.export(model, x, path, opset=opset, **kw)
    onnx.checker.check_model(proto, full_check=True)
    sess = session(proto)
    if other is None:
        rng = np.random.default_rng(1)
        other = (rng.standard_normal((x.shape[0] + 3,) + x.shape[1:]) * np.std(x) + np.mean(x)).astype(x.dtype)
    for inp in (x, other):
        want = model(cr.tensor(inp))
        want = want.numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: inp})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    return proto


def ops_of(proto) -> list:
    return [n.op_type for n in proto.graph.node]


def randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ----------------------------------------------------------------------------- one layer per case
def _activation_cases():
    r = np.random.default_rng(7)
    lo = float(r.uniform(-2, -0.5))
    return [
        ("relu", nn.ReLU(), "Relu"),
        ("leaky_relu", nn.LeakyReLU(float(r.uniform(0.01, 0.3))), "LeakyRelu"),
        ("sigmoid", nn.Sigmoid(), "Sigmoid"),
        ("tanh", nn.Tanh(), "Tanh"),
        ("gelu", nn.GELU(), "Erf"),
        ("gelu_tanh", nn.GELU("tanh"), "Tanh"),
        ("elu", nn.ELU(float(r.uniform(0.5, 2))), "Elu"),
        ("selu", nn.SELU(), "Selu"),
        ("celu", nn.CELU(float(r.uniform(0.5, 2))), "Celu"),
        ("softplus", nn.Softplus(), "Softplus"),
        ("softsign", nn.Softsign(), "Softsign"),
        ("hardtanh", nn.Hardtanh(lo, lo + float(r.uniform(1, 3))), "Clip"),
        ("relu6", nn.ReLU6(), "Clip"),
        ("hardsigmoid", nn.Hardsigmoid(), "HardSigmoid"),
        ("hardswish", nn.Hardswish(), "HardSwish"),
        ("silu", nn.SiLU(), "Sigmoid"),
        ("mish", nn.Mish(), "Softplus"),
        ("logsigmoid", nn.LogSigmoid(), "Softplus"),
        ("glu", nn.GLU(-1), "Sigmoid"),
        ("softmax", nn.Softmax(1), "Softmax"),
        ("log_softmax", nn.LogSoftmax(-1), "LogSoftmax"),
        ("relu_inplace", nn.ReLU(inplace=True), "Relu"),
    ]


@pytest.mark.parametrize("name,layer,onnx_op", _activation_cases(), ids=[c[0] for c in _activation_cases()])
def test_activations(name, layer, onnx_op):
    model = nn.Sequential(nn.Linear(6, 8), layer)
    x = randn(5, 6, scale=3.0)
    proto = roundtrip(model, x)
    assert onnx_op in ops_of(proto)


@pytest.mark.parametrize("opset", [18, 20])
@pytest.mark.parametrize("layer", [nn.GELU(), nn.GELU("tanh"), nn.Mish()], ids=["gelu", "gelu_tanh", "mish"])
def test_activations_in_later_opsets(layer, opset):
    proto = roundtrip(nn.Sequential(nn.Linear(4, 6), layer), randn(3, 4, scale=3.0), opset=opset)
    assert proto.opset_import[0].version == opset


def _linear_cases():
    return [
        ("linear", lambda: nn.Linear(5, 7), (4, 5), "Gemm"),
        ("linear_no_bias", lambda: nn.Linear(5, 3, bias=False), (4, 5), "Gemm"),
        ("linear_3d", lambda: nn.Linear(5, 3), (4, 2, 5), "MatMul"),
        ("bilinear", lambda: _Bilinear(), (4, 5), "MatMul"),
    ]


class _Bilinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = nn.Bilinear(5, 5, 3)

    def forward(self, x):
        return self.b(x, x * 2.0)


@pytest.mark.parametrize("name,make,shape,onnx_op", _linear_cases(), ids=[c[0] for c in _linear_cases()])
def test_linear_layers(name, make, shape, onnx_op):
    proto = roundtrip(make(), randn(*shape))
    assert onnx_op in ops_of(proto)


@pytest.mark.parametrize("seed", range(3))
def test_batch_norm_eval_is_one_operator_with_the_running_statistics(seed):
    rng = np.random.default_rng(seed)
    two_d = seed != 1
    bn = nn.BatchNorm2d(4) if two_d else nn.BatchNorm1d(4, affine=bool(seed % 2 == 0))
    bn.running_mean.data[:] = rng.standard_normal(4)
    bn.running_var.data[:] = rng.uniform(0.3, 2, 4)
    if bn.weight is not None:
        bn.weight.data[:] = rng.standard_normal(4)
        bn.bias.data[:] = rng.standard_normal(4)
    x = randn(3, 4, 5, 5, seed=seed) if two_d else randn(3, 4, 7, seed=seed)
    proto = roundtrip(nn.Sequential(bn), x)
    assert ops_of(proto) == ["BatchNormalization"]
    names = {i.name for i in proto.graph.initializer}
    assert {"0.running_mean", "0.running_var"} <= names
    flat = roundtrip(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), randn(5, 3))
    assert "BatchNormalization" in ops_of(flat)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: nn.LayerNorm(6), (3, 6)),
        (lambda: nn.LayerNorm((4, 6)), (3, 4, 6)),
        (lambda: nn.LayerNorm(6, elementwise_affine=False), (3, 2, 6)),
        (lambda: nn.LayerNorm(6, bias=False), (3, 6)),
    ],
    ids=["last", "last_two", "no_affine", "no_bias"],
)
def test_layer_norm(make, shape):
    layer = make()
    if layer.weight is not None:
        layer.weight.data[:] = randn(*layer.weight.shape, seed=3)
    proto = roundtrip(nn.Sequential(layer), randn(*shape, scale=2.0))
    assert "LayerNormalization" in ops_of(proto)


@pytest.mark.parametrize("groups,shape", [(2, (3, 4, 5, 5)), (3, (3, 6, 7)), (1, (2, 4, 3, 3)), (4, (2, 4))])
def test_group_norm(groups, shape):
    layer = nn.GroupNorm(groups, shape[1])
    layer.weight.data[:] = randn(shape[1], seed=1)
    layer.bias.data[:] = randn(shape[1], seed=2)
    roundtrip(nn.Sequential(layer), randn(*shape, scale=2.0))


def test_standardize_writes_the_saved_statistics_by_name():
    s = nn.Standardize(4).fit(randn(50, 4, scale=5.0) + 3)
    proto = roundtrip(nn.Sequential(s, nn.Linear(4, 2)), randn(3, 4, scale=5.0))
    assert ops_of(proto)[:3] == ["Sub", "Reciprocal", "Mul"]
    assert {"0.mean", "0.std", "1.weight", "1.bias"} == {i.name for i in proto.graph.initializer}


# ----------------------------------------------------------------------------- shapes and elementwise operations
SHAPE_CASES = {
    "flatten": (lambda x: nn.Flatten()(x), (3, 2, 3, 4)),
    "flatten_mid": (lambda x: cr.flatten(x, 1, 2), (3, 2, 3, 4)),
    "unflatten": (lambda x: nn.Unflatten(1, (2, 6))(x), (3, 12)),
    "reshape": (lambda x: x.reshape(x.shape[0], 4, 3), (3, 12)),
    "reshape_minus_one": (lambda x: x.reshape(-1, 6) * 2.0, (3, 12)),
    "merge_batch": (lambda x: x.reshape(-1) * 2.0, (3, 4)),
    "view_batch_into_rows": (lambda x: x.reshape(x.shape[0] * 2, 6).sum(1), (3, 12)),
    "permute": (lambda x: x.permute(2, 0, 1), (3, 4, 5)),
    "transpose": (lambda x: x.transpose(0, 1), (3, 4)),
    "T": (lambda x: x.T, (3, 4)),
    "squeeze": (lambda x: cr.squeeze(x, 1), (3, 1, 4)),
    "unsqueeze": (lambda x: cr.unsqueeze(x, 1), (3, 4)),
    "cat": (lambda x: cr.cat([x, x * 2.0, -x], 1), (3, 4)),
    "cat_batch": (lambda x: cr.cat([x, x * 3.0], 0), (3, 4)),
    "stack": (lambda x: cr.stack([x, x + 1.0], 1), (3, 4)),
    "slice": (lambda x: x[:, 1:4], (3, 6)),
    "slice_steps": (lambda x: x[:, ::2, 1::3], (3, 6, 7)),
    "slice_negative": (lambda x: x[:, -3:-1], (3, 6)),
    "reverse": (lambda x: x[:, ::-1], (3, 6)),
    "int_index": (lambda x: x[:, 2], (3, 6)),
    "last_index": (lambda x: x[:, -1], (3, 4, 6)),
    "ellipsis_none": (lambda x: x[..., None, 1:], (3, 4, 5)),
    "index_array": (lambda x: x[:, np.array([3, 0, 3, 1])], (3, 5)),
    "bool_mask": (lambda x: x[:, np.array([True, False, True, True])], (3, 4)),
    "split": (lambda x: cr.cat(cr.split(x, 2, 1)[::-1], 1), (3, 5)),
    "chunk": (lambda x: cr.chunk(x, 3, 1)[1] * 2.0, (3, 7)),
    "unbind": (lambda x: cr.unbind(x, 1)[2], (3, 4)),
    "flip": (lambda x: cr.flip(x, (1, 2)), (2, 3, 4)),
    "roll": (lambda x: cr.roll(x, 2, 1), (2, 5)),
    "tile": (lambda x: cr.tile(x, (1, 3)), (2, 4)),
    "repeat": (lambda x: x.repeat(1, 2, 3), (2, 3, 4)),
    "repeat_more_dims": (lambda x: x.repeat(2, 1, 3) * 1.0, (2, 3)),
    "tril": (lambda x: cr.tril(x, 1), (2, 4, 5)),
    "triu": (lambda x: cr.triu(x, -1), (2, 4, 4)),
    "broadcast_to": (lambda x: cr.broadcast_to(x[:, None, :], (x.shape[0], 3, 4)) * 1.0, (2, 4)),
    "pad_constant": (lambda x: F.pad(x, (1, 2, 0, 3), value=0.5), (2, 3, 4)),
    "pad_reflect": (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), (2, 3, 4, 5)),
    "pad_replicate": (lambda x: F.pad(x, (2, 1), mode="replicate"), (2, 3, 4)),
    "pad_circular": (lambda x: F.pad(x, (2, 1, 1, 3), mode="circular"), (2, 3, 4, 5)),
    "pad_cut": (lambda x: F.pad(x, (-1, 2)), (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_CASES))
def test_shape_operations(name):
    fn, shape = SHAPE_CASES[name]
    model = Fn(lambda x, w: fn(x * w), shape[1:])
    x = randn(*shape)
    if name == "merge_batch":  # the output's size is a multiple of the batch's: no 'batch' name for it
        proto = roundtrip(model, x)
        assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == ""
    else:
        roundtrip(model, x)


ELEMENTWISE = {
    "add": lambda x, w: x + w,
    "sub": lambda x, w: 1.0 - x - w,
    "mul": lambda x, w: x * w * 3.0,
    "div": lambda x, w: x / (cr.abs(w) + 1.0) + 2.0 / (x * x + 1.0),
    "pow": lambda x, w: cr.abs(x) ** 1.7 + x**2 + x**3 + cr.abs(x) ** 0.5,
    "pow_tensor": lambda x, w: cr.abs(x) ** cr.abs(w),
    "neg": lambda x, w: -x * w,
    "exp": lambda x, w: cr.exp(x * w),
    "log": lambda x, w: cr.log(cr.abs(x * w) + 0.1),
    "log1p_expm1": lambda x, w: cr.log1p(cr.abs(x)) + cr.expm1(x),
    "log2_log10": lambda x, w: cr.log2(cr.abs(x) + 1) + cr.log10(cr.abs(w) + 1),
    "sqrt": lambda x, w: cr.sqrt(cr.abs(x) + 0.01) + cr.rsqrt(cr.abs(w) + 1),
    "abs": lambda x, w: cr.abs(x - w),
    "clamp": lambda x, w: cr.clamp(x * w, -0.5, 0.7) + cr.clamp(x, min=0.1) + cr.clamp(x, max=-0.2),
    "maximum_minimum": lambda x, w: cr.maximum(x, w) - cr.minimum(x, -w),
    "trig": lambda x, w: cr.sin(x) + cr.cos(w) + cr.tan(x * 0.3) + cr.atan(x) + cr.sinh(x * 0.5) + cr.cosh(w * 0.5),
    "inverse_trig": lambda x, w: cr.asin(cr.tanh(x) * 0.9) + cr.acos(cr.sigmoid(w)) + cr.asinh(x),
    "erf_reciprocal": lambda x, w: cr.erf(x) + cr.reciprocal(cr.abs(w) + 1.0),
    "rounding": lambda x, w: cr.floor(x * 3) + cr.ceil(w * 3) + cr.round(x * 3) + cr.trunc(x * 3) + cr.sign(x),
    "where_constant_mask": lambda x, w: cr.where(np.array([True, False, True, False]), x, w),
    "masked_fill": lambda x, w: cr.masked_fill(x * w, np.array([False, True, True, False]), -2.5),
    "astype": lambda x, w: (x * w).astype(np.float64).sum(1).astype(np.float32),
    "matmul": lambda x, w: x @ w[:, None] @ w[None, :],
    "einsum": lambda x, w: cr.einsum("bi,i->b", x, w),
    "cumsum": lambda x, w: cr.cumsum(x * w, 1),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_and_products(name):
    model = Fn(ELEMENTWISE[name], (4,), seed=2)
    roundtrip(model, randn(3, 4, scale=1.5))


REDUCTIONS = {
    "sum": lambda x: x.sum(1),
    "sum_all": lambda x: x.sum() * cr.ones(1),
    "sum_keep": lambda x: x.sum((1, 2), keepdim=True),
    "mean": lambda x: x.mean(-1),
    "mean_batch": lambda x: x - x.mean(0, keepdim=True),
    "max_dim": lambda x: cr.max(x, 1).values,
    "min_dim_keep": lambda x: cr.min(x, 2, keepdim=True).values,
    "amax": lambda x: cr.amax(x, (1, 2)),
    "amin": lambda x: cr.amin(x, 1),
    "var": lambda x: x.var(2),
    "var_biased_over_batch": lambda x: x - x.var(0, unbiased=False),
    "std": lambda x: x.std((1, 2), keepdim=True),
    "logsumexp": lambda x: cr.logsumexp(x, 1),
    "norm": lambda x: cr.norm(x, dim=2),
    "prod": lambda x: cr.prod(x, 1),
    "softmax_dim1": lambda x: cr.softmax(x, 1),
    "log_softmax_dim0": lambda x: cr.log_softmax(x, 2),
}


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions(name, opset):
    fn = REDUCTIONS[name]
    model = Fn(lambda x, w: fn(x * w), (3, 4), seed=1)
    roundtrip(model, randn(5, 3, 4), opset=opset)


INDEXING = {
    "index_select": lambda x, w: cr.index_select(x * w, 1, np.array([2, 0, 2])),
    "take_along_dim": lambda x, w: cr.take_along_dim(x * w, np.array([[1, 0, 3], [2, 2, 0]]), 1)[:1],
    "topk_values": lambda x, w: cr.topk(x * w, 2, 1).values,
    "sort_values": lambda x, w: cr.sort(x * w, 1, descending=True).values - cr.sort(x, 1).values,
    "tensor_split": lambda x, w: cr.tensor_split(x * w, 3, 1)[2] * 2.0,
}


@pytest.mark.parametrize("name", sorted(INDEXING))
def test_indexing_and_sorting(name):
    if name == "take_along_dim":  # (an index of the batch's size: a fixed batch)
        roundtrip(Fn(INDEXING[name], (5,), seed=3), randn(2, 5), randn(2, 5, seed=4), dynamic_batch=False)
    else:
        roundtrip(Fn(INDEXING[name], (5,), seed=3), randn(2, 5))


def test_max_pool_whose_last_ceil_window_would_start_in_the_padding():
    layer = nn.MaxPool2d(2, 2, padding=1, ceil_mode=True)  # PyTorch drops that window; ONNX's ceil_mode keeps it
    proto = roundtrip(nn.Sequential(layer), randn(2, 3, 5, 5))
    assert [a.ints for a in proto.graph.node[0].attribute if a.name == "pads"] == [[1, 1, 1, 1]]


def test_frozen_parameters_are_recorded_too():
    model = _Embed()
    model.emb.weight.requires_grad = False
    ids = np.random.default_rng(0).integers(0, 11, (4, 6))
    roundtrip(model, ids, ids[:2])
    assert not model.emb.weight.requires_grad


class _Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, ids):
        return self.out(self.emb(ids)).sum(1)


def test_embedding_is_a_gather_of_the_integer_input():
    model = _Embed().eval()
    ids = np.random.default_rng(0).integers(0, 11, (4, 6)).astype(np.int64)
    other = np.random.default_rng(1).integers(0, 11, (9, 6)).astype(np.int64)
    proto = roundtrip(model, ids, other)
    assert ops_of(proto)[0] == "Gather"
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


# ----------------------------------------------------------------------------- convolution, pooling, resampling
def _conv_cases():
    cases = []
    rng = np.random.default_rng(12)
    for k in range(8):
        nd = 1 + k % 2
        groups = int(rng.choice([1, 2]))
        cin, cout = 2 * int(rng.integers(1, 3)), 2 * int(rng.integers(1, 3))
        kernel = int(rng.integers(1, 4))
        stride = int(rng.integers(1, 3))
        dilation = int(rng.integers(1, 3))
        padding = int(rng.integers(0, 3)) if k != 3 else "same"
        if padding == "same":
            stride = 1
        mode = ["zeros", "zeros", "reflect", "replicate", "circular"][k % 5]
        cases.append((nd, dict(groups=groups, kernel_size=kernel, stride=stride, dilation=dilation, padding=padding,
                               padding_mode=mode, bias=bool(k % 3)), cin, cout))  # fmt: skip
    return cases


@pytest.mark.parametrize("nd,kw,cin,cout", _conv_cases())
def test_conv(nd, kw, cin, cout):
    layer = (nn.Conv1d if nd == 1 else nn.Conv2d)(cin, cout, **kw)
    shape = (2, cin, 9) if nd == 1 else (2, cin, 8, 7)
    proto = roundtrip(nn.Sequential(layer), randn(*shape))
    assert "Conv" in ops_of(proto)


@pytest.mark.parametrize("seed", range(6))
def test_conv_transpose(seed):
    rng = np.random.default_rng(seed)
    nd = 1 + seed % 2
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    out_pad = int(rng.integers(0, max(stride, dilation)))
    groups = int(rng.choice([1, 2]))
    layer = (nn.ConvTranspose1d if nd == 1 else nn.ConvTranspose2d)(
        2 * groups, 2, int(rng.integers(1, 4)), stride=stride, padding=int(rng.integers(0, 2)),
        output_padding=out_pad, groups=groups, dilation=dilation, bias=bool(seed % 3),
    )  # fmt: skip
    shape = (2, 2 * groups, 6) if nd == 1 else (2, 2 * groups, 5, 4)
    proto = roundtrip(nn.Sequential(layer), randn(*shape))
    assert "ConvTranspose" in ops_of(proto)


def _pool_cases():
    rng = np.random.default_rng(5)
    cases = []
    for k in range(10):
        kernel = int(rng.integers(1, 4))
        cases.append(
            dict(
                kernel_size=kernel,
                stride=int(rng.integers(1, 4)),
                padding=int(rng.integers(0, kernel // 2 + 1)),
                ceil_mode=bool(k % 2),
            )
        )
    return cases


@pytest.mark.parametrize("kw", _pool_cases())
@pytest.mark.parametrize("kind", ["max2d", "max1d", "avg2d", "avg2d_excl", "avg1d"])
def test_pooling(kind, kw):
    if kind.startswith("max"):
        layer = (nn.MaxPool2d if kind == "max2d" else nn.MaxPool1d)(dilation=1 + kw["padding"] % 2, **kw)
        onnx_op = "MaxPool"
    else:
        layer = (nn.AvgPool2d if kind.startswith("avg2d") else nn.AvgPool1d)(
            count_include_pad=kind != "avg2d_excl", **kw
        )
        onnx_op = "AveragePool"
    shape = (2, 3, 7, 8) if kind.endswith("2d") or kind.endswith("excl") else (2, 3, 9)
    proto = roundtrip(nn.Sequential(layer), randn(*shape))
    assert onnx_op in ops_of(proto)


def test_pooling_of_unbatched_input_and_divisor_override():
    roundtrip(Fn(lambda x, w: F.avg_pool2d(x * w, 3, 2, 1, ceil_mode=True, divisor_override=5), (1,)), randn(3, 7, 6))
    roundtrip(Fn(lambda x, w: F.max_pool2d(x * w, 2, ceil_mode=True), (1,)), randn(3, 7, 5))


@pytest.mark.parametrize(
    "layer,shape,onnx_op",
    [
        (nn.AdaptiveAvgPool2d(1), (2, 3, 5, 6), "GlobalAveragePool"),
        (nn.AdaptiveAvgPool1d(1), (2, 3, 7), "GlobalAveragePool"),
        (nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 9), "AveragePool"),
        (nn.AdaptiveAvgPool2d((3, 4)), (2, 3, 7, 9), "MatMul"),
        (nn.AdaptiveAvgPool2d((None, 1)), (2, 3, 4, 5), "ReduceMean"),
        (nn.AdaptiveMaxPool2d(1), (2, 3, 4, 6), "MaxPool"),
        (nn.AdaptiveMaxPool2d((2, 3)), (2, 3, 4, 6), "MaxPool"),
        (nn.AdaptiveMaxPool1d(2), (2, 3, 6), "MaxPool"),
    ],
    ids=["avg2d_1", "avg1d_1", "avg2d_even", "avg2d_uneven", "avg2d_one_axis", "max2d_1", "max2d_even", "max1d"],
)
def test_adaptive_pooling(layer, shape, onnx_op):
    proto = roundtrip(nn.Sequential(layer), randn(*shape))
    assert onnx_op in ops_of(proto)


@pytest.mark.parametrize(
    "kw,shape",
    [
        (dict(scale_factor=2, mode="nearest"), (2, 3, 4, 5)),
        (dict(size=(7, 9), mode="nearest"), (2, 3, 4, 5)),
        (dict(size=(3, 2), mode="nearest"), (2, 3, 7, 5)),
        (dict(scale_factor=1.5, mode="nearest-exact"), (2, 3, 4, 6)),
        (dict(scale_factor=2, mode="bilinear"), (2, 3, 4, 5)),
        (dict(size=(5, 8), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
        (dict(size=(3, 7), mode="bilinear"), (2, 3, 4, 5)),
        (dict(scale_factor=3, mode="linear"), (2, 3, 5)),
        (dict(size=4, mode="linear", align_corners=True), (2, 3, 7)),
        (dict(size=11, mode="nearest"), (2, 3, 5)),
    ],
)
def test_interpolate_is_resize(kw, shape):
    proto = roundtrip(Fn(lambda x, w: F.interpolate(x * w, **kw), (1,)), randn(*shape))
    assert "Resize" in ops_of(proto)


def test_pixel_shuffle_is_depth_to_space():
    proto = roundtrip(nn.Sequential(nn.Conv2d(2, 8, 1), nn.PixelShuffle(2)), randn(2, 2, 3, 4))
    assert ops_of(proto)[-1] == "DepthToSpace"
    roundtrip(Fn(lambda x, w: F.pixel_unshuffle(x * w, 2), (1,)), randn(2, 2, 4, 6))


# ----------------------------------------------------------------------------- recurrent layers
class _Seq(nn.Module):
    def __init__(self, rnn, read):
        super().__init__()
        self.rnn = rnn
        self.read = read

    def forward(self, x):
        return self.read(self.rnn(x))


def _rnn_cases():
    rng = np.random.default_rng(3)
    cases = []
    for k, kind in enumerate(["gru", "lstm", "rnn", "gru", "lstm", "rnn_relu", "gru", "lstm"]):
        cases.append(
            dict(
                kind=kind,
                hidden=int(rng.integers(2, 6)),
                num_layers=int(rng.integers(1, 3)),
                batch_first=bool(k % 2),
                bidirectional=k >= 3,
                bias=k != 4,
            )
        )
    return cases


@pytest.mark.parametrize("case", _rnn_cases(), ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_recurrent_layers(case):
    kind = case.pop("kind")
    layer = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[kind.split("_")[0]]
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    rnn = layer(3, **{k if k != "hidden" else "hidden_size": v for k, v in case.items()}, **extra)
    x = randn(4, 5, 3) if case["batch_first"] else randn(5, 4, 3)
    other = randn(7, 5, 3, seed=1) if case["batch_first"] else randn(8, 4, 3, seed=1)  # (time-major: T changes)
    proto = roundtrip(_Seq(rnn, lambda out: out[0]), x, other)
    assert kind.split("_")[0].upper() in ops_of(proto)
    last = (lambda out: out[0][:, -1]) if case["batch_first"] else (lambda out: out[0][-1])
    roundtrip(_Seq(rnn, last), x, other)


def test_lstm_final_states_and_gru_given_state():
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    both = _Seq(lstm, lambda out: cr.cat([out[1][0][-1], out[1][1][-1]], 1))
    roundtrip(both, randn(2, 6, 3), randn(5, 6, 3, seed=2))

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.h0 = nn.Parameter(randn(1, 1, 4, seed=4))
            self.gru = nn.GRU(3, 4)

        def forward(self, x):
            h0 = cr.broadcast_to(self.h0, (1, x.shape[1], 4)) * 1.0
            return self.gru(x, h0)[0]

    roundtrip(WithState(), randn(5, 2, 3), randn(8, 2, 3, seed=2))  # (time-major: the first axis is T)


@pytest.mark.parametrize("cell", [nn.RNNCell(3, 4), nn.GRUCell(3, 4), nn.LSTMCell(3, 4)], ids=["rnn", "gru", "lstm"])
def test_recurrent_cells(cell):
    read = (lambda out: cr.cat(list(out), 1)) if isinstance(cell, nn.LSTMCell) else (lambda out: out)
    proto = roundtrip(_Seq(cell, read), randn(2, 3))
    assert type(cell).__name__[:-4].upper() in ops_of(proto)


# ----------------------------------------------------------------------------- the models of the command line
CLI_MODELS = [
    ("xor", "mlp", dict(hidden=[8, 8])),
    ("digits", "mlp", dict(hidden=[16, 8], batch_norm=True, dropout=0.2)),
    ("digits", "cnn", dict(channels=[4, 6], batch_norm=True, dropout=0.25, hidden=[8])),
    ("mnist1d", "cnn", dict(channels=[4, 4, 4], hidden=[])),
    ("digits", "gru", dict(hidden=[6, 6])),
    ("digits", "lstm", dict(hidden=[5])),
    ("mnist1d", "gru", dict(hidden=[6])),
    ("mnist1d", "lstm", dict(hidden=[4, 4])),
]


@pytest.mark.parametrize("dataset,model,settings", CLI_MODELS, ids=[f"{d}-{m}" for d, m, _ in CLI_MODELS])
def test_every_model_the_command_line_builds(dataset, model, settings, tmp_path):
    n_features = {"xor": 2, "digits": 64, "mnist1d": 40}[dataset]
    config = runs.RunConfig(dataset=dataset, n_features=n_features, n_classes=10, model=model, **settings)
    net = runs.build_model(config)
    rng = np.random.default_rng(0)
    net[0].fit(rng.standard_normal((40, n_features if model == "mlp" else 1)) * 4 + 2)
    for m in net.modules():  # statistics other than the initial ones
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.data[:] = rng.standard_normal(m.num_features)
            m.running_var.data[:] = rng.uniform(0.5, 2, m.num_features)
    x = (rng.standard_normal((3, n_features)) * 4 + 2).astype(np.float32)
    proto = roundtrip(net, x, path=tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").stat().st_size > 0
    names = {i.name for i in proto.graph.initializer}
    assert set(net.state_dict()) - {k for k in net.state_dict() if k.endswith("num_batches_tracked")} <= names


def test_chainrule_export_command(tmp_path, capsys):
    for dataset, extra in (("xor", []), ("digits", ["--model", "cnn", "--channels", "4", "--hidden", "8"])):
        run = tmp_path / dataset
        args = ["train", "--dataset", dataset, "--epochs", "1", "--out", str(run), "--quiet", "--hidden", "8"]
        assert main(args + extra) == 0
        out = tmp_path / f"{dataset}.onnx"
        assert main(["export", str(run), "--format", "onnx", "-o", str(out)]) == 0
        assert str(out) in capsys.readouterr().out
        config, model = runs.load_run(str(run))
        data = runs.load_dataset(config.dataset, config.seed)
        X = np.asarray(data.X_test[:50], np.float32)
        proto = onnx.load(str(out))
        onnx.checker.check_model(proto, full_check=True)
        got = session(proto).run(None, {"input": X})[0]
        want = model(cr.tensor(X)).numpy()
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
        assert (got.argmax(1) == want.argmax(1)).all()


def test_export_command_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "m.onnx")]) == 1
    assert "config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path), "--format", "tflite", "-o", "m.onnx"])


# ----------------------------------------------------------------------------- options and refusals
def test_static_batch_and_names(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "static.onnx"
    proto = cr.onnx.export(model, randn(4, 3), path, dynamic_batch=False, input_names=["x"], output_names=["y"])
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [4, 3]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"] and [o.name for o in sess.get_outputs()] == ["y"]
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        sess.run(None, {"x": randn(5, 3)})
    with pytest.raises(ArgumentError, match="input_names"):
        cr.onnx.export(model, randn(4, 3), None, input_names=["a", "b"])


def test_several_inputs_and_outputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, z):
            s = self.a(x) + self.b(z)
            return s, cr.sigmoid(s)

    model = Two().eval()
    x, z = randn(2, 3), randn(2, 4, seed=1)
    proto = cr.onnx.export(model, (x, z), None)
    onnx.checker.check_model(proto, full_check=True)
    x2, z2 = randn(5, 3, seed=2), randn(5, 4, seed=3)
    got = session(proto).run(None, {"input_0": x2, "input_1": z2})
    want = model(cr.tensor(x2), cr.tensor(z2))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=TOL, atol=TOL)


def test_an_input_that_needs_no_grad_under_no_grad_and_float64():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh()).double()
    with cr.no_grad():
        proto = roundtrip(model, randn(2, 3).astype(np.float64))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_training_mode_is_refused_before_running():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    before = model[1].running_mean.data.copy()
    with pytest.raises(UnsupportedError, match=r"training mode.*model\.eval\(\)"):
        cr.onnx.export(model, randn(4, 3), None)
    np.testing.assert_array_equal(model[1].running_mean.data, before)
    cr.onnx.export(model.eval(), randn(4, 3), None)


class _Custom(cr.Function):
    formula = "y = x * 2 (a custom node)"

    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g * 2


@pytest.mark.parametrize(
    "fn,match",
    [
        (lambda x, w: _Custom()(x * w), r"_Custom \(y = x \* 2 \(a custom node\)\).*no ONNX counterpart"),
        (lambda x, w: F.dropout(x * w, 0.5, True), r"dropout in training mode.*model\.eval\(\)"),
        (lambda x, w: cr.where(x.numpy() > 0, x * w, 0.0), r"shape changes with the batch size.*outside the recorded"),
        (lambda x, w: x * w + cr.tensor(np.ones((x.shape[0], 1), np.float32)), r"shape changes with the batch"),
        (lambda x, w: F.unfold(x * w, 2), r"Unfold.*no ONNX counterpart"),
        (lambda x, w: w * 2.0, r"does not depend on input"),
        (lambda x, w: (x * w)[: x.shape[0] - 1], r"index changes with the batch size"),
    ],
    ids=["custom_function", "dropout_train", "data_mask", "batch_constant", "unfold", "detached", "batch_index"],
)
def test_refusals_name_the_operation_and_what_to_do(fn, match):
    shape = (3, 2, 4, 4) if "unfold" in match.lower() else (3, 4)
    model = Fn(fn, shape[1:])
    with pytest.raises(UnsupportedError, match=match):
        cr.onnx.export(model, randn(*shape), None)


def test_batch_norm_without_running_statistics_is_refused():
    model = nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)).eval()
    with pytest.raises(UnsupportedError, match="batch's own statistics"):
        cr.onnx.export(model, randn(4, 3), None)


def test_a_loss_inside_the_model_is_refused_with_its_name():
    model = Fn(lambda x, w: F.mse_loss(x * w, cr.zeros((1, 4))), (4,))
    with pytest.raises(UnsupportedError, match="MSELoss"):
        cr.onnx.export(model, randn(1, 4), None, dynamic_batch=False)


def test_a_constant_computed_from_the_input_values_is_refused():
    model = Fn(lambda x, w: cr.where(x.numpy() > 0, x * w, 0.0), (4,))
    with pytest.raises(UnsupportedError, match=r"Where.*values change with the input's values"):
        cr.onnx.export(model, randn(3, 4), None, dynamic_batch=False)


def test_supported_lists_what_exports_and_not_what_is_refused():
    assert {"LinearOp", "ConvOp", "LSTMLayerOp", "GRULayerOp", "BatchNorm2d", "InterpolateOp"} <= set(cr.onnx.SUPPORTED)
    assert not {"DropoutOp", "BatchNormOp", "UnfoldOp", "MSELossOp"} & set(cr.onnx.SUPPORTED)


def test_bad_arguments():
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ArgumentError, match="opset"):
        cr.onnx.export(model, randn(2, 3), None, opset=13)
    with pytest.raises(cr.errors.ArgumentTypeError, match="nn.Module"):
        cr.onnx.export(lambda x: x, randn(2, 3), None)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"ONNX export.*chainrule\[onnx\]"):
        cr.onnx.export(nn.Sequential(nn.Linear(3, 2)), randn(2, 3), None)


def test_importing_chainrule_does_not_import_onnx():
    import subprocess

    code = "import sys, chainrule; print('onnx' in sys.modules, hasattr(chainrule, 'onnx'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
