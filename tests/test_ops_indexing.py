"""Indexing, layout, einsum and sorting ops: values and gradients equal PyTorch's (float64), gradcheck passes,
and the documented differences (repeated scatter indices, src larger than index) hold."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import compare_with_torch, requires_torch, torch

R = np.random.default_rng(11)


def rand(*shape):
    return R.normal(size=shape)


def distinct(*shape):
    """Values far apart (no ties: sort/topk/max indices are unique)."""
    return R.permutation(int(np.prod(shape))).reshape(shape) * 0.5 + R.uniform(-0.1, 0.1, shape)


def ints(*shape, high):
    return R.integers(0, high, shape)


def unique_along(dim, shape, size):
    """An index of ``shape`` whose entries are distinct along ``dim`` (no repeated scatter target)."""
    n = shape[dim]
    moved = list(shape)
    del moved[dim]
    rows = [R.permutation(size)[:n] for _ in range(int(np.prod(moved)))]
    arr = np.stack(rows).reshape(*moved, n)
    return np.moveaxis(arr, -1, dim)


def _tf():
    return torch.nn.functional


# ----------------------------------------------------------------------------- gather, scatter, ...
GATHER = [
    (0, (3, 4), ints(5, 4, high=3)),  # larger than the input along dim
    (1, (3, 4), ints(3, 2, high=4)),  # smaller
    (-1, (2, 3, 4), ints(2, 2, 6, high=4)),
    (1, (2, 3, 4), ints(1, 7, 2, high=3)),
]


@requires_torch
@pytest.mark.parametrize("dim, shape, index", GATHER)
def test_gather_matches_torch(dim, shape, index):
    compare_with_torch(lambda x, i: cr.gather(x, dim, i), lambda x, i: torch.gather(x, dim, i), rand(*shape), index)
    compare_with_torch(lambda x, i: x.gather(dim, i), lambda x, i: x.gather(dim, i), rand(*shape), index)


@requires_torch
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_with_a_tensor_src_matches_torch(dim):
    index = unique_along(dim % 2, (2, 3) if dim == 0 else (3, 2), 3 if dim == 0 else 4)
    src = rand(*index.shape)
    compare_with_torch(
        lambda x, s, i: cr.scatter(x, dim, i, s), lambda x, s, i: torch.scatter(x, dim, i, s), rand(3, 4), src, index
    )
    compare_with_torch(
        lambda x, s, i: x.scatter(dim, i, s), lambda x, s, i: x.scatter(dim, i, s), rand(3, 4), src, index
    )


@requires_torch
def test_scatter_with_a_value_matches_torch():
    index = unique_along(1, (3, 2), 4)
    compare_with_torch(
        lambda x, i: cr.scatter(x, 1, i, 2.5), lambda x, i: torch.scatter(x, 1, i, 2.5), rand(3, 4), index
    )
    compare_with_torch(
        lambda x, i: cr.scatter(x, 1, i, value=-1.0), lambda x, i: torch.scatter(x, 1, i, value=-1.0), rand(3, 4), index
    )


@requires_torch
def test_scatter_reads_only_the_index_shaped_corner_of_a_larger_src():
    """PyTorch computes the same values but its backward fails for such a src; chainrule's gradient is zero
    outside the corner (checked numerically)."""
    index = unique_along(0, (2, 3), 3)
    x, src = rand(3, 4), rand(4, 5)
    want = torch.scatter(torch.tensor(x), 0, torch.tensor(index), torch.tensor(src)).numpy()
    xs, ss = cr.tensor(x, requires_grad=True), cr.tensor(src, requires_grad=True)
    np.testing.assert_array_equal(cr.scatter(xs, 0, index, ss).numpy(), want)
    cr.scatter(xs, 0, index, ss).sum().backward()
    np.testing.assert_array_equal(ss.grad.numpy()[2:, 3:], 0)
    assert cr.gradcheck(lambda a, b: cr.scatter(a, 0, index, b), xs, ss)


@requires_torch
def test_0d_and_1d_inputs_and_indices_mix_as_in_torch():
    compare_with_torch(lambda x, i: cr.gather(x, 0, i), lambda x, i: torch.gather(x, 0, i), rand(5), np.array(2))
    compare_with_torch(lambda x, i: cr.gather(x, 0, i), lambda x, i: torch.gather(x, 0, i), rand(), np.array([0, 0]))
    compare_with_torch(
        lambda x, s, i: cr.scatter(x, 0, i, s), lambda x, s, i: torch.scatter(x, 0, i, s), rand(5), rand(), np.array(2)
    )
    compare_with_torch(
        lambda x, s, i: cr.scatter_add(x, 0, i, s),
        lambda x, s, i: torch.scatter_add(x, 0, i, s),
        rand(),
        rand(2),
        np.array([0, 0]),
    )


def test_scatter_with_repeated_indices_keeps_the_last_write_and_gives_it_the_gradient():
    """PyTorch leaves this undefined; chainrule writes in the index's row-major order (the last one wins) and
    only the winning src element gets a gradient, so the gradient is the derivative of what was computed."""
    x = cr.tensor(np.zeros(5), requires_grad=True)
    src = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64, requires_grad=True)
    index = np.array([1, 1, 1, 3])
    y = cr.scatter(x, 0, index, src)
    np.testing.assert_array_equal(y.numpy(), [0, 3, 0, 4, 0])
    (y * cr.tensor(np.arange(1.0, 6.0))).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [0, 0, 2, 4])
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 3, 0, 5])
    assert cr.gradcheck(lambda a, b: cr.scatter(a, 0, index, b), x, src)


@requires_torch
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add_matches_torch_repeated_indices_included(dim):
    index = ints(5, 3, high=3) if dim == 0 else ints(3, 6, high=4)
    src = rand(*index.shape)
    compare_with_torch(
        lambda x, s, i: cr.scatter_add(x, dim, i, s),
        lambda x, s, i: torch.scatter_add(x, dim, i, s),
        rand(3, 4),
        src,
        index,
    )
    compare_with_torch(
        lambda x, s, i: x.scatter_add(dim, i, s), lambda x, s, i: x.scatter_add(dim, i, s), rand(3, 4), src, index
    )


@requires_torch
@pytest.mark.parametrize("dim, index", [(0, [2, 0, 2, 1]), (1, [3]), (-1, [0, 1, 1, 3, 2]), (1, [])])
def test_index_select_matches_torch(dim, index):
    index = np.array(index, dtype=np.int64)
    compare_with_torch(
        lambda x, i: cr.index_select(x, dim, i), lambda x, i: torch.index_select(x, dim, i), rand(3, 4), index
    )
    compare_with_torch(lambda x, i: x.index_select(dim, i), lambda x, i: x.index_select(dim, i), rand(3, 4), index)


@requires_torch
@pytest.mark.parametrize("dim, index, alpha", [(0, [2, 0, 2], 1), (1, [3, 3, 0, 1, 0], -2.5), (-1, [1], 0.5)])
def test_index_add_matches_torch(dim, index, alpha):
    index = np.array(index, dtype=np.int64)
    shape = [3, 4]
    shape[dim] = len(index)
    compare_with_torch(
        lambda x, s, i: cr.index_add(x, dim, i, s, alpha=alpha),
        lambda x, s, i: torch.index_add(x, dim, i, s, alpha=alpha),
        rand(3, 4),
        rand(*shape),
        index,
    )
    compare_with_torch(
        lambda x, s, i: x.index_add(dim, i, s, alpha=alpha),
        lambda x, s, i: x.index_add(dim, i, s, alpha=alpha),
        rand(3, 4),
        rand(*shape),
        index,
    )


@requires_torch
@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (3, 1), (2, 3, 4)])
def test_masked_fill_matches_torch(mask_shape):
    mask = R.uniform(size=mask_shape) > 0.5
    compare_with_torch(
        lambda x, m: cr.masked_fill(x, m, -7.0), lambda x, m: torch.masked_fill(x, m, -7.0), rand(3, 4), mask
    )
    compare_with_torch(lambda x, m: x.masked_fill(m, 0.25), lambda x, m: x.masked_fill(m, 0.25), rand(3, 4), mask)


@requires_torch
def test_masked_fill_with_a_0d_tensor_value_differentiates_the_value():
    mask = R.uniform(size=(3, 4)) > 0.4
    compare_with_torch(
        lambda x, v, m: cr.masked_fill(x, m, v), lambda x, v, m: torch.masked_fill(x, m, v), rand(3, 4), rand(), mask
    )


@requires_torch
@pytest.mark.parametrize("x_shape, mask_shape", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (2, 4)), ((3, 1), (3, 5))])
def test_masked_select_matches_torch(x_shape, mask_shape):
    mask = R.uniform(size=mask_shape) > 0.5
    compare_with_torch(
        lambda x, m: cr.masked_select(x, m), lambda x, m: torch.masked_select(x, m), rand(*x_shape), mask
    )
    compare_with_torch(lambda x, m: x.masked_select(m), lambda x, m: x.masked_select(m), rand(*x_shape), mask)


@requires_torch
@pytest.mark.parametrize(
    "shape, indices, dim",
    [((3, 4), ints(3, 2, high=4), 1), ((3, 4), ints(1, 5, high=4), 1), ((3, 4), ints(2, 4, high=3), 0),
     ((3, 4), ints(6, high=12), None), ((2, 3, 4), ints(2, 5, 1, high=3), 1), ((3, 1), ints(3, 4, high=3), 0)],
)  # fmt: skip
def test_take_along_dim_matches_torch(shape, indices, dim):
    compare_with_torch(
        lambda x, i: cr.take_along_dim(x, i, dim), lambda x, i: torch.take_along_dim(x, i, dim), rand(*shape), indices
    )
    compare_with_torch(
        lambda x, i: x.take_along_dim(i, dim), lambda x, i: x.take_along_dim(i, dim), rand(*shape), indices
    )


def test_index_errors_say_what_is_wrong():
    x = cr.tensor(np.zeros((3, 4)))
    with pytest.raises(cr.errors.DTypeError, match="gather: index must be an integer tensor.*dtype=cr.int64"):
        cr.gather(x, 1, cr.tensor([[0.0, 1.0]]))
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="gather: index 4 is out of range for dimension 1"):
        cr.gather(x, 1, np.array([[4]]))
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="index_select: index -1 is out of range"):
        cr.index_select(x, 0, np.array([-1]))
    with pytest.raises(cr.errors.ShapeError, match="gather: index must have as many dimensions"):
        cr.gather(x, 0, np.array([0]))
    with pytest.raises(cr.errors.ShapeError, match="larger than the input shape"):
        cr.gather(x, 0, np.zeros((2, 5), np.int64))
    with pytest.raises(cr.errors.ArgumentError, match="give dim or axis"):
        cr.gather(x, 1, np.array([[0]]), axis=1)
    with pytest.raises(cr.errors.DTypeError, match="masked_fill: the mask must be a boolean tensor"):
        cr.masked_fill(x, np.ones((3, 4)), 1.0)
    with pytest.raises(cr.errors.ShapeError, match=r"index_add: source must have shape \(2, 4\)"):
        cr.index_add(x, 0, np.array([0, 1]), np.ones((3, 4)))
    with pytest.raises(cr.errors.UnsupportedError, match="reduce="):
        cr.scatter(x, 0, np.array([[0]]), 1.0, reduce="add")


def test_dim_may_be_given_as_axis():
    x = cr.tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(cr.gather(x, axis=1, index=np.array([[1], [0], [3]])).numpy(), [[1], [4], [11]])
    np.testing.assert_array_equal(cr.sort(-x, axis=0).indices.numpy(), np.tile([[2], [1], [0]], (1, 4)))
    np.testing.assert_array_equal(cr.flip(x, axis=0).numpy(), x.numpy()[::-1])
    assert cr.narrow(x, axis=1, start=1, length=2).shape == (3, 2)
    assert [t.shape for t in cr.chunk(x, 2, axis=1)] == [(3, 2), (3, 2)]
    assert len(cr.unbind(x, axis=1)) == 4
    assert cr.argmin(x, axis=0).tolist() == [0, 0, 0, 0]
    with pytest.raises(cr.errors.ArgumentError, match="unbind: give dim or axis"):
        cr.unbind(x, 0, axis=1)


# ----------------------------------------------------------------------------- layout
@requires_torch
@pytest.mark.parametrize("dims", [(0,), (1,), (0, 2), (-1, 0, 1)])
def test_flip_matches_torch(dims):
    compare_with_torch(lambda x: cr.flip(x, dims), lambda x: torch.flip(x, dims), rand(2, 3, 4))
    compare_with_torch(lambda x: x.flip(*dims), lambda x: x.flip(*dims), rand(2, 3, 4))


@requires_torch
@pytest.mark.parametrize("shifts, dims", [(2, None), (-1, 0), ((1, -2), (0, 2)), (7, 1), ((1, 1), (1, 1))])
def test_roll_matches_torch(shifts, dims):
    compare_with_torch(lambda x: cr.roll(x, shifts, dims), lambda x: torch.roll(x, shifts, dims), rand(2, 3, 4))
    compare_with_torch(lambda x: x.roll(shifts, dims), lambda x: x.roll(shifts, dims), rand(2, 3, 4))


@requires_torch
@pytest.mark.parametrize("sizes", [(2, 3), (1, 1), (2, 1, 3), (0, 2), (3, 2, 2, 1)])
def test_repeat_matches_torch(sizes):
    compare_with_torch(lambda x: x.repeat(*sizes), lambda x: x.repeat(*sizes), rand(3, 2))
    compare_with_torch(lambda x: x.repeat(sizes), lambda x: x.repeat(sizes), rand(3, 2))


@requires_torch
@pytest.mark.parametrize("dims", [(2,), (2, 3), (2, 1, 3), (1,)])
def test_tile_matches_torch(dims):
    compare_with_torch(lambda x: cr.tile(x, dims), lambda x: torch.tile(x, dims), rand(3, 2))
    compare_with_torch(lambda x: x.tile(*dims), lambda x: x.tile(*dims), rand(3, 2))


@requires_torch
@pytest.mark.parametrize("diagonal", [0, 1, -1, 3, -5])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 4, 3)])
def test_tril_and_triu_match_torch(shape, diagonal):
    compare_with_torch(lambda x: cr.tril(x, diagonal), lambda x: torch.tril(x, diagonal), rand(*shape))
    compare_with_torch(
        lambda x: cr.triu(x, diagonal=diagonal), lambda x: torch.triu(x, diagonal=diagonal), rand(*shape)
    )
    compare_with_torch(lambda x: x.tril(diagonal), lambda x: x.tril(diagonal), rand(*shape))
    compare_with_torch(lambda x: x.triu(diagonal), lambda x: x.triu(diagonal), rand(*shape))


PADS = [
    ("constant", (3, 4), (1, 2)),
    ("constant", (3, 4), (1, 2, 0, 3)),
    ("constant", (2, 3, 4), (1, 1, 2, 0, 1, 1)),
    ("constant", (3, 4), (-1, 2, 1, -2)),
    ("constant", (5,), (0, 0)),
    ("reflect", (2, 5), (2, 3)),
    ("reflect", (2, 3, 4), (1, 3)),
    ("reflect", (1, 2, 4, 5), (2, 1, 3, 0)),
    ("reflect", (2, 3, 4), (3, 2, 1, 2)),
    ("reflect", (1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 1)),
    ("reflect", (2, 5), (-1, 2)),
    ("replicate", (2, 5), (3, 7)),
    ("replicate", (2, 3, 4), (2, 1, 0, 4)),
    ("replicate", (1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 1)),
    ("replicate", (2, 5), (2, -3)),
    ("circular", (2, 5), (2, 5)),
    ("circular", (1, 3, 4), (1, 2, 3, 1)),
    ("circular", (1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 1)),
    ("circular", (2, 5), (-1, 2)),
    ("circular", (2, 5), (3, -2)),
]


@requires_torch
@pytest.mark.parametrize("mode, shape, pad", PADS)
def test_pad_matches_torch(mode, shape, pad):
    compare_with_torch(lambda x: F.pad(x, pad, mode=mode), lambda x: _tf().pad(x, pad, mode=mode), rand(*shape))


@requires_torch
def test_pad_constant_value_matches_torch():
    compare_with_torch(lambda x: F.pad(x, (2, 1), value=3.5), lambda x: _tf().pad(x, (2, 1), value=3.5), rand(3, 4))


def test_pad_errors_follow_torch():
    x = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(cr.errors.ArgumentError, match="even length"):
        F.pad(x, (1,))
    with pytest.raises(cr.errors.ArgumentError, match="at most 2 \\* 2"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(cr.errors.UnsupportedError, match="not supported for a 2-d input"):
        F.pad(x, (1, 1, 1, 1), mode="reflect")
    with pytest.raises(cr.errors.ShapeError, match="reflect padding must be less than"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(cr.errors.ArgumentError, match="takes no value"):
        F.pad(x, (1, 1), mode="replicate", value=1.0)
    with pytest.raises(cr.errors.ArgumentError, match="mode must be"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(cr.errors.ShapeError, match="cuts more than dimension 1 of size 3"):
        F.pad(x, (-4, 1))
    with pytest.raises(cr.errors.ShapeError, match="leaves nothing"):
        F.pad(x, (-1, -2), mode="replicate")


def test_circular_padding_wraps_the_kept_part_at_most_once():
    """Negative circular padding cuts first, then the rest wraps around (as in PyTorch); padding longer than
    what is left, where PyTorch copies from its own unwritten padding, is refused."""
    x = cr.tensor(np.arange(5.0).reshape(1, 5))
    assert F.pad(x, (-1, 2), mode="circular").tolist() == [[1, 2, 3, 4, 1, 2]]
    assert F.pad(x, (-2, -3), mode="circular").shape == (1, 0)
    with pytest.raises(cr.errors.ShapeError, match="wraps around more than the 2 entries left"):
        F.pad(x, (-3, 3), mode="circular")
    with pytest.raises(cr.errors.ShapeError, match="wraps around"):
        F.pad(x, (6, 0), mode="circular")


@requires_torch
@pytest.mark.parametrize("dim, start, length", [(0, 1, 2), (1, -3, 2), (-1, 0, 4), (1, 4, 0)])
def test_narrow_matches_torch_and_is_a_view(dim, start, length):
    compare_with_torch(
        lambda x: cr.narrow(x, dim, start, length), lambda x: torch.narrow(x, dim, start, length), rand(3, 4)
    )
    compare_with_torch(lambda x: x.narrow(dim, start, length), lambda x: x.narrow(dim, start, length), rand(3, 4))
    x = cr.tensor(np.zeros((3, 4)))
    assert np.shares_memory(cr.narrow(x, dim, start, length).numpy(), x.numpy()) or length == 0


@requires_torch
@pytest.mark.parametrize("size, chunks, dim", [(5, 3, 0), (6, 4, 0), (4, 1, 1), (7, 7, 1), (3, 5, 0)])
def test_chunk_matches_torch(size, chunks, dim):
    shape = (size, 3) if dim == 0 else (3, size)
    compare_with_torch(lambda x: cr.chunk(x, chunks, dim), lambda x: torch.chunk(x, chunks, dim), rand(*shape))
    compare_with_torch(lambda x: x.chunk(chunks, dim), lambda x: x.chunk(chunks, dim), rand(*shape))


def test_chunk_of_an_empty_dimension_gives_empty_pieces_as_torch():
    parts = cr.chunk(cr.tensor(np.zeros((0, 2))), 2)
    assert [p.shape for p in parts] == [(0, 2), (0, 2)]


@requires_torch
@pytest.mark.parametrize("source, destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([2, 0], [0, 1]), ((), ())])
def test_movedim_matches_torch(source, destination):
    compare_with_torch(
        lambda x: cr.movedim(x, source, destination), lambda x: torch.movedim(x, source, destination), rand(2, 3, 4)
    )
    compare_with_torch(
        lambda x: x.moveaxis(source, destination), lambda x: x.moveaxis(source, destination), rand(2, 3, 4)
    )
    compare_with_torch(
        lambda x: cr.moveaxis(x, source, destination), lambda x: torch.moveaxis(x, source, destination), rand(2, 3, 4)
    )


@requires_torch
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_matches_torch(dim):
    compare_with_torch(lambda x: cr.unbind(x, dim), lambda x: torch.unbind(x, dim), rand(2, 3, 4))
    compare_with_torch(lambda x: x.unbind(dim), lambda x: x.unbind(dim), rand(2, 3, 4))


def test_unbind_gives_zeros_to_slices_that_get_no_gradient():
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    a, b, c = cr.unbind(x)
    (b * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [2, 2], [0, 0]])


# ----------------------------------------------------------------------------- einsum
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->ij", [(3, 3, 2)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("ba,Ab", [(2, 3), (4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ijk,ikl->", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ij->...ji", [(2, 3, 4, 5)]),
    ("i...,...j->ij...", [(2, 5, 1), (3, 3)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("...,...->...", [(2, 1), (3,)]),
    ("b...i,bi->b...", [(2, 3, 4), (2, 4)]),
    ("i,i->i", [(1,), (3,)]),
    ("ij,jk->ik", [(3, 1), (4, 5)]),
    ("ij,j->i", [(3, 4), (1,)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    (",i->i", [(), (3,)]),
]


@requires_torch
@pytest.mark.parametrize("equation, shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum_matches_torch(equation, shapes):
    arrays = [rand(*s) for s in shapes]
    compare_with_torch(lambda *xs: cr.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), *arrays)
    compare_with_torch(lambda *xs: cr.einsum(equation, list(xs)), lambda *xs: torch.einsum(equation, list(xs)), *arrays)


@requires_torch
def test_einsum_errors_say_what_is_wrong():
    a = cr.tensor(np.zeros((2, 3)))
    with pytest.raises(cr.errors.ArgumentError, match="has 2 operand"):
        cr.einsum("ij,jk->ik", a)
    with pytest.raises(cr.errors.ShapeError, match="do not fit an operand of shape"):
        cr.einsum("ijk->i", a)
    with pytest.raises(cr.errors.ShapeError, match="subscript 'j' has sizes 3 and 4"):
        cr.einsum("ij,jk->ik", a, cr.tensor(np.zeros((4, 2))))
    with pytest.raises(cr.errors.ArgumentError, match="appears more than once"):
        cr.einsum("i->ii", cr.tensor(np.zeros(2)))
    with pytest.raises(cr.errors.ShapeError, match="repeated .* different sizes"):
        cr.einsum("ii", a)
    with pytest.raises(cr.errors.ArgumentError, match="invalid subscripts"):
        cr.einsum("i1->i", a)
    with pytest.raises(cr.errors.DTypeError, match="float32, float64"):  # PyTorch refuses mixed dtypes too
        cr.einsum("ij,jk->ik", cr.ones((2, 2)), cr.ones((2, 2), dtype=np.float64))
    with pytest.raises(RuntimeError):
        torch.einsum("ij,jk->ik", torch.ones(2, 2), torch.ones(2, 2, dtype=torch.float64))


# ----------------------------------------------------------------------------- sorting
@requires_torch
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch(dim, descending):
    out = compare_with_torch(
        lambda x: cr.sort(x, dim, descending), lambda x: torch.sort(x, dim, descending), distinct(3, 4, 5)
    )
    assert out[1].dtype == np.int64
    compare_with_torch(
        lambda x: x.sort(dim=dim, descending=descending),
        lambda x: x.sort(dim=dim, descending=descending),
        distinct(3, 4, 5),
    )


@requires_torch
@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_with_ties_and_nans_matches_torch(descending):
    x = np.array([[3.0, np.nan, 1.0, 3.0, -np.inf, 1.0, np.nan, 2.0], [0.0, 0.0, 0.0, -1.0, np.inf, 5.0, 0.0, 5.0]])
    got = cr.sort(cr.tensor(x), descending=descending, stable=True)
    want = torch.sort(torch.tensor(x), descending=descending, stable=True)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    np.testing.assert_array_equal(
        cr.argsort(cr.tensor(x), descending=descending, stable=True).numpy(),
        torch.argsort(torch.tensor(x), descending=descending, stable=True).numpy(),
    )


@requires_torch
def test_sort_of_integers_and_of_a_0d_tensor_matches_torch():
    x = R.integers(-5, 5, (4, 6))
    got, want = cr.sort(cr.tensor(x), 0, stable=True), torch.sort(torch.tensor(x), dim=0, stable=True)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    v, i = cr.sort(cr.tensor(2.5))
    assert v.shape == () and i.shape == () and int(i) == 0


@requires_torch
@pytest.mark.parametrize("k, dim, largest", [(2, -1, True), (1, 0, False), (4, 1, True), (0, 1, False), (3, 2, False)])
def test_topk_matches_torch(k, dim, largest):
    out = compare_with_torch(
        lambda x: cr.topk(x, k, dim, largest), lambda x: torch.topk(x, k, dim, largest), distinct(3, 4, 5)
    )
    assert out[1].dtype == np.int64
    compare_with_torch(
        lambda x: x.topk(k, dim=dim, largest=largest), lambda x: x.topk(k, dim=dim, largest=largest), distinct(3, 4, 5)
    )


def test_topk_counts_nan_as_largest_as_torch():
    x = cr.tensor([3.0, np.nan, 1.0, 2.0])
    assert cr.topk(x, 2).indices.tolist() == [1, 0]
    assert cr.topk(x, 2, largest=False).indices.tolist() == [2, 3]
    with pytest.raises(cr.errors.ShapeError, match=r"topk: k \(5\) must be in \[0, 4\]"):
        cr.topk(x, 5)


@requires_torch
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_and_argmin_match_torch(dim, keepdim):
    x = np.round(R.normal(size=(3, 4, 5)), 0)  # ties: the first index wins, as in PyTorch
    x[1, 2, 3] = np.nan
    for name in ("argmax", "argmin"):
        for data in (x, np.nan_to_num(x)):
            got = getattr(cr, name)(cr.tensor(data), dim=dim, keepdim=keepdim)
            want = getattr(torch, name)(torch.tensor(data), dim=dim, keepdim=keepdim)
            assert got.dtype == np.int64
            assert got.shape == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_argmax_accepts_numpy_names_and_refuses_an_empty_input():
    x = cr.tensor([[1.0, 5.0], [7.0, 2.0]])
    assert cr.argmax(x, axis=1, keepdims=True).tolist() == [[1], [0]]
    with pytest.raises(cr.errors.ArgumentError, match="empty"):
        cr.argmax(cr.tensor(np.zeros((0, 2))))


def test_argsort_is_sort_indices():
    x = cr.tensor(distinct(3, 5))
    np.testing.assert_array_equal(cr.argsort(x, dim=0).numpy(), cr.sort(x, dim=0).indices.numpy())
    np.testing.assert_array_equal(x.argsort(descending=True).numpy(), cr.sort(x, descending=True).indices.numpy())


# ----------------------------------------------------------------------------- graph and explanation
def test_each_new_node_explains_itself():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    nodes = [
        cr.gather(x, 1, np.array([[0], [2]])),
        cr.scatter(x, 1, np.array([[0], [2]]), 1.0),
        cr.flip(x, (0,)),
        cr.einsum("ij->j", x),
        cr.sort(x).values,
        F.pad(x, (1, 1)),
    ]
    for y in nodes:
        f = y.grad_fn
        assert f.formula and f.derivative, type(f).__name__
