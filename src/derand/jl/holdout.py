"""Generalisation of a fitted embedding: distortion on held-out points (paper §5.2, JL).

The certificate of :class:`~derand.jl.DerandomizedJL` covers the training pairs only. Here the
data are split reproducibly, the embedding is fitted on the training part, and the exact
distortion is measured on the pairs within the held-out part (*test*) and on the pairs
between the two parts (*cross*: every new point against every training point).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from derand.errors import InputError
from derand.jl.distortion import (
    DistortionReport,
    as_points,
    cross_distortion,
    drop_duplicates,
    pairwise_distortion,
)
from derand.limits import check_finite, check_seed

Array = NDArray[np.float64]


def split_holdout(X: ArrayLike, fraction: float, seed: int = 0) -> tuple[Array, Array]:
    """Split the rows of X into a training and a held-out part, reproducibly by ``seed``.

    Parameters
    ----------
    X : array_like of shape (n, d)
    fraction : float
        Share of the rows held out, in (0, 1); both parts get at least 2 rows.
    seed : int
        Seed of the permutation (numpy ``default_rng``).

    Returns
    -------
    (X_train, X_test) : tuple of ndarray
        Rows in their original order within each part.

    Examples
    --------
    >>> train, test = split_holdout(np.arange(20.0).reshape(10, 2), 0.3, seed=0)
    >>> train.shape, test.shape
    ((7, 2), (3, 2))
    """
    arr = as_points(X, min_points=4)
    frac = check_finite(fraction, "holdout fraction", low=0.0, high=1.0)
    n = arr.shape[0]
    n_test = round(frac * n)
    if not 0 < frac < 1 or n_test < 2 or n - n_test < 2:
        raise InputError(
            f"holdout fraction {frac} of {n} points leaves {n - n_test} for training and "
            f"{n_test} held out; both need at least 2"
        )
    order = np.random.default_rng(check_seed(seed)).permutation(n)
    test = np.sort(order[:n_test])
    train = np.sort(order[n_test:])
    return arr[train], arr[test]


@dataclass(frozen=True)
class HoldoutReport:
    """Exact distortion of one projection on the training pairs, the held-out pairs and the
    pairs between them (each a :class:`~derand.jl.DistortionReport`)."""

    train: DistortionReport
    test: DistortionReport
    cross: DistortionReport

    def summary(self) -> dict[str, float]:
        """Max and 99th percentile of |D| for each set of pairs, flat and JSON ready."""
        out: dict[str, float] = {}
        for name in ("train", "test", "cross"):
            rep: DistortionReport = getattr(self, name)
            out[f"{name}_max"] = rep.max_distortion
            out[f"{name}_mean"] = rep.mean_distortion
            out[f"{name}_p99"] = rep.quantiles.get("0.99", float("nan"))
            out[f"{name}_pairs"] = rep.pairs
        return out


def holdout_distortion(
    P: ArrayLike, X_train: ArrayLike, X_test: ArrayLike, *, workers: int | None = None
) -> HoldoutReport:
    """Exact distortion of projection ``P`` on train, test and train x test pairs.

    Parameters
    ----------
    P : array_like of shape (k, d)
        The projection (e.g. a fitted estimator's ``components_``).
    X_train, X_test : array_like
        The two parts (see :func:`split_holdout`); duplicates are dropped silently, and
        held-out points equal to a training point are left out of the cross pairs.
    workers : int, optional
        Threads for the exact passes.

    Returns
    -------
    HoldoutReport

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from derand.jl import PCAJL
    >>> train, test = split_holdout(load_digits().data[:300], 0.3, seed=0)
    >>> rep = holdout_distortion(PCAJL(10).fit(train).components_, train, test)
    >>> rep.cross.pairs == rep.train.n * rep.test.n
    True
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        A, _ = drop_duplicates(as_points(X_train, name="X_train"), warn=False)
        B, _ = drop_duplicates(as_points(X_test, name="X_test"), warn=False)
        train = pairwise_distortion(A, P, dedupe=False, workers=workers)
        test = pairwise_distortion(B, P, dedupe=False, workers=workers)
        cross = cross_distortion(A, B, P, workers=workers)
    return HoldoutReport(train=train, test=test, cross=cross)
