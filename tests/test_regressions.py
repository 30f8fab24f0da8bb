"""Regression tests for bugs found in review; each compares against an independent computation."""

from __future__ import annotations

import numpy as np

import chainrule as cr

# -- cross_entropy on (N, C, d1, d2) logits: second derivatives keep the axis order


# -- cross_entropy's gradient w.r.t. probability targets is -log softmax, even where softmax underflows


# -- optimizer state of a 0-d parameter survives state_dict/load_state_dict


# -- cr.grad with respect to an intermediate leaves the graph below it intact


# -- transpose / flatten validate their axes


# -- save/load: no key a user picks can collide with another member or the header


# -- fit: resuming a run that stopped early trains nothing more
def _blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    X = np.stack([np.cos(2.1 * k), np.sin(2.1 * k)], 1) + rng.normal(0, 0.35, (n, 2))
    return X.astype(np.float32), k


def _net(seed=0):
    g = np.random.default_rng(seed)
    return cr.nn.Sequential(cr.nn.Linear(2, 16, generator=g), cr.nn.ReLU(), cr.nn.Linear(16, 3, generator=g))


# -- fit: a non-finite loss leaves the weights of the step that produced it, and no hooks behind


# -- reductions at the edges: empty axes, no degrees of freedom, NaN maxima


# -- gradients delivered to different leaves never share memory; 0-d gradients are arrays


# -- assigning an array to a registered buffer keeps it a Tensor


# -- explain on a graph with a multi-output node: per-output gradients equal backward's


# -- explain only looks: retained gradients are untouched


# -- gradcheck_graph re-runs a dropout node with its recorded mask


# -- explain_step on a scalar parameter, and an index that is out of range


# -- manual_seed makes shuffling without an explicit seed repeatable; arange honours step


# -- integer tensors in float operations become float32, as in PyTorch


# -- gradcheck: with some tensor requiring grad, plain arrays are constants


# -- second derivatives through batch norm and binary cross-entropy agree with PyTorch


# -- a leaf's gradient is C-contiguous like its parameter (a transposed view would slow every optimizer pass)


# -- second review of the engine changes


# -- third review


# -- review of training, files and the command line


# -- review of the fixes above


# -- a new user's walk through the README, and edge cases against PyTorch


# -- review of the chain-rule trace


# -- a PyTorch user's review of tensors, modules and loaders


# -- the stale check by memory region


# -- the stale check, second look
