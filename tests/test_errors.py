"""Errors name the operation, the shapes or values at fault, and what to do."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import errors


def test_one_hierarchy():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ChainruleError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor(np.zeros((0, 3))).max(axis=0),
        lambda: F.cross_entropy(cr.tensor(np.zeros((2, 3))), np.array([0, 5])),
        lambda: F.cross_entropy(cr.tensor(np.zeros((2, 3))), np.array([0, 1]), label_smoothing=2.0),
        lambda: F.mse_loss(cr.tensor([1.0]), cr.tensor([1.0]), reduction="avg"),
        lambda: cr.tensor([1.0, 2.0])[5],
        lambda: cr.train.History([{"epoch": 1}])["nope"],
    ],
)
def test_errors_raised_on_purpose_are_chainrule_errors(make):
    with pytest.raises(cr.errors.ChainruleError):
        make()


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum"])
def test_broadcast_mismatch_names_op_and_shapes(op):
    a = cr.tensor(np.ones((2, 3)))
    b = cr.tensor(np.ones((4,)))
    with pytest.raises(errors.ShapeError, match=rf"{op}: shapes \(2, 3\) and \(4,\)"):
        getattr(cr, op)(a, b)


def test_matmul_mismatch():
    a = cr.tensor(np.ones((32, 512)))
    b = cr.tensor(np.ones((256, 10)))
    with pytest.raises(
        errors.ShapeError,
        match=r"matmul: cannot multiply \(32, 512\) by \(256, 10\): "
        r"inner sizes 512 and 256 differ",
    ):
        a @ b


def test_linear_mismatch():
    with pytest.raises(errors.ShapeError, match=r"linear: input of shape \(4, 3\).*weight of shape \(5, 2\)"):
        F.linear(cr.tensor(np.ones((4, 3))), cr.tensor(np.ones((5, 2))))


def test_linear_with_a_bias_of_the_wrong_shape_is_a_shape_error():
    with pytest.raises(cr.errors.ShapeError, match="bias of shape"):
        F.linear(cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((4, 3))), cr.tensor(np.ones(5)))


def test_reshape_and_loss_shapes():
    with pytest.raises(errors.ShapeError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        cr.tensor(np.ones((2, 3))).reshape(4, 2)
    with pytest.raises(errors.ShapeError, match=r"mse_loss: input shape \(4, 1\) and target shape \(4,\)"):
        F.mse_loss(cr.tensor(np.ones((4, 1))), np.ones(4))
    with pytest.raises(errors.DTypeError, match="cross_entropy: class-index targets must be integers"):
        F.cross_entropy(cr.tensor(np.ones((4, 3))), np.ones(4))
    with pytest.raises(IndexError, match="class 7 is out of range for 3 classes"):
        F.cross_entropy(cr.tensor(np.ones((2, 3))), np.array([0, 7]))
    with pytest.raises(ValueError, match="reduction must be"):
        F.mse_loss(cr.tensor([1.0]), [1.0], reduction="avg")


def test_backward_on_non_scalar():
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(errors.GraphError, match=r"shape \(3, 2\).*\.sum\(\) or \.mean\(\)"):
        (x * 2).backward()


def test_backward_without_graph():
    with pytest.raises(errors.GraphError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_grad_shape_must_match():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(errors.ShapeError, match=r"grad has shape \(2,\) but the output has shape \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_requires_grad_on_integers():
    with pytest.raises(errors.DTypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        cr.tensor(np.array([1, 2]), requires_grad=True)
    t = cr.tensor(np.array([1, 2]))
    with pytest.raises(errors.DTypeError):
        t.requires_grad = True


def test_freed_graph():
    x = cr.tensor(1.0, requires_grad=True)
    y = x.exp() * 2
    y.backward()
    with pytest.raises(errors.GraphFreedError, match="already freed.*retain_graph=True"):
        y.backward()


class WrongCount(cr.Function):
    def forward(self, x, y):
        return x * y

    def backward(self, g):
        return g  # should return two gradients


class WrongShape(cr.Function):
    def forward(self, x):
        return x.sum()

    def backward(self, g):
        return np.ones(5)  # x has shape (2, 3)


def test_function_backward_wrong_count_names_it():
    a = cr.tensor(1.0, requires_grad=True)
    b = cr.tensor(2.0, requires_grad=True)
    with pytest.raises(errors.BackwardError, match="WrongCount.backward returned 1 gradient but the node has 2 inputs"):
        WrongCount()(a, b).backward()


def test_function_backward_wrong_shape_names_it():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(
        errors.BackwardError,
        match=r"WrongShape.backward returned a gradient of shape \(5,\) "
        r"for input 0, which has shape \(2, 3\)",
    ):
        WrongShape()(x).backward()


def test_function_instance_reused():
    class Id(cr.Function):
        def forward(self, x):
            return x

        def backward(self, g):
            return g

    f = Id()
    f(cr.tensor(1.0, requires_grad=True))
    with pytest.raises(errors.GraphError, match=r"create a new one for each call, e.g. Id\(\)\(x\)"):
        f(cr.tensor(1.0, requires_grad=True))


def test_forward_returning_tensor_is_explained():
    class Bad(cr.Function):
        def forward(self, x):
            return cr.tensor(x)

        def backward(self, g):
            return g

    with pytest.raises(TypeError, match="must return arrays"):
        Bad()(cr.tensor(1.0, requires_grad=True))


def test_setitem_on_graph_tensor():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(errors.GraphError, match="setitem"):
        x[0] = 2.0
    y = cr.tensor(np.ones(3))
    y[0] = 5.0
    assert y.numpy()[0] == 5.0


def test_ambiguous_truth_value():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))


def test_axis_out_of_range():
    with pytest.raises(errors.ShapeError, match="sum: axis 2 is out of range for a tensor with 2 dimensions"):
        cr.tensor(np.ones((2, 2))).sum(axis=2)


def test_permute_and_transpose_refuse_out_of_range_dims():
    a = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(errors.ShapeError, match="permute"):
        cr.permute(a, (0, 5))
    with pytest.raises(errors.ShapeError, match="permute"):
        cr.permute(cr.tensor(1.0), (0,))
    with pytest.raises(errors.ShapeError, match="permute"):
        a.permute(0, 0)
    assert cr.permute(cr.tensor(1.0), ()).shape == ()
    assert cr.permute(a, (-1, 0)).shape == (3, 2)
    with pytest.raises(errors.ShapeError, match="transpose"):
        cr.transpose(a, 0, 2)
    with pytest.raises(errors.ShapeError, match="transpose"):
        cr.transpose(cr.tensor(1.0), 0, 1)
    assert cr.transpose(cr.tensor(1.0), 0, -1).shape == ()  # PyTorch allows dims 0 and -1 of a 0-d tensor
    assert cr.transpose(a, -1, 0).shape == (3, 2)


def test_flatten_refuses_an_out_of_range_axis():
    a = cr.tensor(np.zeros((2, 3, 4)))
    assert cr.flatten(a, 1).shape == (2, 12)
    with pytest.raises(errors.ShapeError, match="flatten"):
        cr.flatten(a, 3)


def test_integer_to_negative_integer_power_says_what_to_do():
    with pytest.raises(cr.errors.ArgumentError, match="float"):
        2 ** cr.tensor(np.array([3, -2]))
