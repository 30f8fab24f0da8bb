"""The differentiable operations: one Function class each, plus a function per op."""

from .elementwise import (
    Abs, Add, AsType, Clip, Cos, Div, Exp, LeakyReLU, Log, Maximum, Minimum, Mul, Neg, Pow,
    PowScalar, ReLU, Sigmoid, Sin, Softplus, Sqrt, Sub, Tanh, Where,
    abs, add, astype, clamp, clip, cos, div, exp, leaky_relu, log, maximum, minimum, mul, neg, pow,
    relu, sigmoid, sin, softplus, sqrt, sub, tanh, where,
)
from .linalg import Linear, Matmul, linear, matmul
from .loss import (
    BCELoss, BCEWithLogits, CrossEntropy, MSELoss, NLLLoss,
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss,
)
from .reduce import (
    AMax, AMin, LogSoftmax, LogSumExp, Mean, Softmax, Sum, SumTo, Var,
    log_softmax, logsumexp, max, mean, min, softmax, std, sum, sum_to, var,
)
from .shape import (
    BroadcastTo, Concatenate, GetItem, IndexAdd, Reshape, Split, Stack, Transpose,
    broadcast_to, concatenate, expand_dims, flatten, getitem, reshape, split, squeeze, stack,
    swapaxes, transpose,
)

from .nnops import BatchNorm, Dropout, batch_norm, dropout

__all__ = [name for name in dir() if not name.startswith("_")]
