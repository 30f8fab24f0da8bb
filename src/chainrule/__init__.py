"""chainrule: backpropagation you can see, at the speed of BLAS.

A NumPy deep-learning library built on an explicit computational graph: every
operation is a node that knows its local derivative, and ``backward`` applies
the chain rule over the graph in reverse.
"""

from __future__ import annotations

from . import data, datasets, distributed, errors, explain, io, modes, nn, optim, train, utils
from . import onnx  # ONNX export (the onnx package itself is imported only when exporting)
from .explain import draw_graph, gradcheck_graph
from .modes import enable_grad, is_fusion_enabled, is_grad_enabled, no_grad, set_fusion_enabled, set_grad_enabled
from .anomaly import detect_anomaly
from .autograd import grad
from .function import Function
from .gradcheck import check_backward, gradcheck, numerical_grad
from .io import load, save
from .interop import from_dlpack
from .model_summary import summary
from .ops import (
    abs,
    add,
    bilinear,
    broadcast_to,
    clamp,
    clip,
    concatenate,
    cos,
    div,
    exp,
    expand_dims,
    flatten,
    layer_norm,
    leaky_relu,
    linear,
    log,
    log1p,
    log_softmax,
    logsumexp,
    norm,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    softplus,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    swapaxes,
    tanh,
    transpose,
    var,
    where,
)

# indexing, layout, einsum, sorting, integer ops (PyTorch's names and rules)
from .ops import (
    allclose,
    argmax,
    argmin,
    argsort,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    chunk,
    einsum,
    flip,
    floor_divide,
    fmod,
    gather,
    index_add,
    index_select,
    isfinite,
    isinf,
    isnan,
    masked_fill,
    masked_select,
    movedim,
    narrow,
    remainder,
    roll,
    scatter,
    scatter_add,
    sort,
    take_along_dim,
    tile,
    topk,
    tril,
    triu,
    unbind,
)
from .ops import movedim as moveaxis
from .ops import amax, amin, cat, concat, permute, swapdims, tensor_split, unsqueeze
from .ops import (  # math functions and cumulative ops (issue 11), where PyTorch has them at top level
    acos,
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    ceil,
    celu,
    cosh,
    cosine_similarity,
    cummax,
    cummin,
    cumprod,
    cumsum,
    erf,
    erfinv,
    expm1,
    fix,
    floor,
    frac,
    log2,
    log10,
    logcumsumexp,
    prod,
    reciprocal,
    round,
    rsqrt,
    selu,
    sign,
    sinh,
    square,
    tan,
    trunc,
)
import numpy as np

from .tensor import Tensor, as_tensor, bool_, float16, float32, float64, from_numpy, int32, int64, tensor
from .creation import arange, full, linspace, ones, ones_like, rand, randn, zeros, zeros_like, manual_seed
from .creation import empty, eye, full_like, randint, randperm

# PyTorch's other names for dtypes (chainrule's dtypes are NumPy's)
half, double, long = float16, float64, int64
int8, int16, uint8 = np.int8, np.int16, np.uint8
bool = np.bool_  # noqa: A001 - as torch.bool
float = float32  # noqa: A001 - as torch.float
int = int32  # noqa: A001 - as torch.int

__version__ = "0.1.0"

# (the dtype names that are also Python's builtins stay out of ``from chainrule import *``)
__all__ = [name for name in dir() if not name.startswith("_") and name not in ("bool", "float", "int", "np")]
