"""The first layer replaced by its best rank-k approximation (beyond the paper).

Once W has collapsed onto a k-dimensional subspace, its rank-k truncation loses (almost)
nothing: ``k (width + d)`` parameters instead of ``width · d``, measured on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from derand.nn.metrics import order_parameters
from derand.nn.students import Student

__all__ = ["Compression", "compress_first_layer"]


@dataclass(frozen=True)
class Compression:
    """The first layer replaced by its best rank-k approximation (beyond the paper).

    Attributes
    ----------
    rank : int
        k, the teacher's number of indices.
    params_before, params_after : int
        Parameters of the whole student before and after.
    first_layer_params_before, first_layer_params_after : int
        ``width * d`` and ``k * (width + d)``.
    test_loss_before, test_loss_after : float
        Test loss of the student and of the compressed student.
    principal_angles_deg_after : list of float
        Principal angles between span(U) and the rank-k first layer.
    """

    rank: int
    params_before: int
    params_after: int
    first_layer_params_before: int
    first_layer_params_after: int
    test_loss_before: float
    test_loss_after: float
    principal_angles_deg_after: list[float]


def compress_first_layer(
    model: Student,
    U: Tensor,
    k: int,
    x_test: Tensor,
    y_test: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    before: float,
) -> Compression:
    """Replace the first layer's W by its best rank-k approximation; compare test losses
    (``before``: the test loss of the model as it is). The model is left unchanged."""
    W = model.first.weight.detach()
    width, d = W.shape
    U_s, S, Vt = torch.linalg.svd(W.double(), full_matrices=False)
    W_k = (U_s[:, :k] * S[:k]) @ Vt[:k]
    total = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        saved = W.clone()
        model.first.weight.copy_(W_k.to(W.dtype))
        after = float(loss_fn(model(x_test), y_test))
        model.first.weight.copy_(saved)
    first_after = k * (width + d)
    angles = order_parameters(W_k, U, [])["principal_angles_deg"]
    return Compression(
        rank=k,
        params_before=int(total),
        params_after=int(total - width * d + first_after),
        first_layer_params_before=int(width * d),
        first_layer_params_after=int(first_after),
        test_loss_before=before,
        test_loss_after=after,
        principal_angles_deg_after=angles,
    )
