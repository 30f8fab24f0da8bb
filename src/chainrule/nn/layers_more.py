"""More layers: LayerNorm, Embedding, Unflatten, Bilinear (PyTorch's arguments, defaults and initialisation)."""

from __future__ import annotations

import math

import numpy as np

from .. import checks, ops
from ..creation import default_generator
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["LayerNorm", "Embedding", "Unflatten", "Bilinear"]


class LayerNorm(Module):
    """Normalise each sample over its last dimensions (``normalized_shape``), then scale and shift.

    y = (x - mean) / sqrt(var + eps) * weight + bias, the statistics (mean, biased variance) taken
    over the last ``len(normalized_shape)`` dimensions of each sample, in training and evaluation
    alike. ``weight`` (ones) and ``bias`` (zeros) have the normalised shape; ``elementwise_affine=False``
    leaves both out, ``bias=False`` only the bias. One graph node with one derivative (``LayerNormOp``).
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype=np.float32,
    ):
        super().__init__()
        self.normalized_shape = checks.allocation("LayerNorm", normalized_shape, dtype)
        if not self.normalized_shape or 0 in self.normalized_shape:
            raise ArgumentError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class Embedding(Module):
    """A lookup table: integer indices of any shape in, rows of ``weight`` (num_embeddings, embedding_dim) out.

    ``weight`` is drawn from N(0, 1), as in PyTorch, and the row ``padding_idx`` (if given) is zero
    and receives no gradient. Repeated indices accumulate their gradients. ``max_norm``: before each
    lookup, the rows looked up whose ``norm_type``-norm exceeds it are rescaled to it, in place
    (PyTorch's behaviour). ``scale_grad_by_freq`` divides each position's gradient by how often its
    index occurs in the batch. ``sparse=True`` is not supported (gradients are dense arrays).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__()
        num_embeddings = checks.integer("Embedding", "num_embeddings", num_embeddings, 1)
        embedding_dim = checks.integer("Embedding", "embedding_dim", embedding_dim, 1)
        if sparse:
            raise UnsupportedError(
                "Embedding: sparse=True is not supported; chainrule's gradients are dense arrays. Leave sparse out"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ArgumentError(
                    f"Embedding: padding_idx {padding_idx} must be within num_embeddings ({num_embeddings})"
                )
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(checks.empty("Embedding", (num_embeddings, embedding_dim), dtype))
            init.normal_(self.weight, 0.0, 1.0, generator=generator)
            if padding_idx is not None:
                self.weight.data[padding_idx] = 0
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (num_embeddings, embedding_dim):
                raise ShapeError(
                    f"Embedding: _weight has shape {w.shape}, expected ({num_embeddings}, {embedding_dim})"
                )
            self.weight = Parameter(w, requires_grad=not _freeze)
            self.weight.data = w  # the table itself, not a copy, as in PyTorch

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose table is ``embeddings`` (2-D; shared, not copied); ``freeze`` turns its
        gradient off."""
        w = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {w.shape}")
        return cls(
            w.shape[0],
            w.shape[1],
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=w,
            _freeze=freeze,
        )

    def forward(self, indices):
        return ops.embedding(
            indices, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s


class Unflatten(Module):
    """Split dimension ``dim`` of the input into ``unflattened_size`` (the inverse of Flatten); one size
    may be -1."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(dim, (int, np.integer)):
            raise ArgumentError(f"Unflatten: dim must be an int, got {dim!r}")
        sizes = tuple(int(s) for s in unflattened_size)
        if not sizes or sizes.count(-1) > 1 or any(s < -1 or s == 0 for s in sizes):
            raise ArgumentError(
                f"Unflatten: unflattened_size must be positive sizes with at most one -1, got {unflattened_size!r}"
            )
        self.dim = int(dim)
        self.unflattened_size = sizes

    def forward(self, x):
        x = x if isinstance(x, Tensor) else ops.as_t(x)
        nd = x.ndim
        if not -nd <= self.dim < nd:
            raise ShapeError(f"Unflatten: dim {self.dim} is out of range for an input of shape {x.shape}")
        d = self.dim % nd
        size = x.shape[d]
        known = int(np.prod([s for s in self.unflattened_size if s != -1]))
        sizes = self.unflattened_size
        if -1 in sizes:
            if size % known:
                raise ShapeError(f"Unflatten: size {size} of dimension {d} cannot be split into {sizes}")
            sizes = tuple(size // known if s == -1 else s for s in sizes)
        elif known != size:
            raise ShapeError(
                f"Unflatten: dimension {d} of the input (shape {x.shape}) has size {size}, but "
                f"unflattened_size {sizes} holds {known}"
            )
        return ops.reshape(x, x.shape[:d] + sizes + x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """y = x1^T W x2 + b for each output feature: ``weight`` (out_features, in1_features, in2_features),
    ``bias`` (out_features,), both drawn from U(-1/sqrt(in1_features), 1/sqrt(in1_features)) as in PyTorch."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__()
        in1_features = checks.integer("Bilinear", "in1_features", in1_features, 1)
        in2_features = checks.integer("Bilinear", "in2_features", in2_features, 1)
        out_features = checks.integer("Bilinear", "out_features", out_features, 1)
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        rng = generator if generator is not None else default_generator()
        bound = 1 / math.sqrt(in1_features)
        self.weight = Parameter(checks.empty("Bilinear", (out_features, in1_features, in2_features), dtype))
        init.uniform_(self.weight, -bound, bound, generator=rng)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
            init.uniform_(self.bias, -bound, bound, generator=rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x1, x2):
        return ops.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
