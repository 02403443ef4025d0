"""Multiple-index teachers ``y = h(U x) + noise`` with x ~ N(0, I_d) (paper §4).

U has k orthonormal rows spanning the teacher subspace; the labels depend on x only through
U x, which is what lets the first layer of a student discover span(U). Theorem 4.1 needs the
Gaussian input; uniform and Rademacher inputs (unit variance) are offered to measure what
happens outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from derand.errors import InputError
from derand.nn.config import INPUT_DISTS, LINKS, MAX_DEGREE

__all__ = ["LINKS", "Teacher", "hermite_he", "make_teacher", "random_orthonormal_rows"]


def hermite_he(z: Tensor, degree: int) -> Tensor:
    """Probabilists' Hermite polynomial He_degree(z) by the three-term recurrence."""
    prev, cur = torch.ones_like(z), z
    if degree == 0:
        return prev
    for n in range(1, degree):
        prev, cur = cur, z * cur - n * prev
    return cur


def random_orthonormal_rows(k: int, d: int, generator: torch.Generator) -> Tensor:
    """k orthonormal rows in R^d, Haar-distributed (QR of a Gaussian matrix, signs fixed)."""
    G = torch.randn(d, k, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    rows: Tensor = (Q * torch.sign(torch.diagonal(R))).T.contiguous()
    return rows


@dataclass
class Teacher:
    """``y = h(U x) + noise * ε`` with U (k x d) having orthonormal rows.

    Attributes
    ----------
    U : Tensor
        (k, d) float64, orthonormal rows.
    link : str
        One of ``LINKS``: ``"tanh"`` (tanh of the first index), ``"sum-tanh"``
        (Σ_i tanh(z_i)), ``"product"`` (z_1 z_2), ``"hermite"`` (He_degree(z_1)/√degree!),
        ``"network"`` (a fixed random two-layer tanh network of z).
    noise : float
        Standard deviation of the Gaussian label noise.
    degree : int
        Degree for the Hermite link.
    net : tuple of Tensor
        Weights of the random network link (empty otherwise).
    input_dist : str
        ``"gaussian"`` (x ~ N(0, I_d), the theorem's setting), ``"uniform"`` (i.i.d. uniform on
        [−√3, √3]) or ``"rademacher"`` (i.i.d. ±1); all have identity covariance.
    """

    U: Tensor
    link: str
    noise: float = 0.0
    degree: int = 2
    net: tuple[Tensor, ...] = field(default=(), repr=False)
    input_dist: str = "gaussian"
    _U_cache: dict[torch.dtype, Tensor] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"Teacher(d={self.d}, k={self.k}, link={self.link!r}, noise={self.noise}, "
            f"degree={self.degree}, input_dist={self.input_dist!r})"
        )

    @property
    def d(self) -> int:
        """Input dimension."""
        return int(self.U.shape[1])

    @property
    def k(self) -> int:
        """Number of indices (dimension of the teacher subspace)."""
        return int(self.U.shape[0])

    def h(self, z: Tensor) -> Tensor:
        """The link function applied to the indices z = U x, shape (n, k) -> (n,)."""
        if self.link == "tanh":
            return torch.tanh(z[:, 0])
        if self.link == "sum-tanh":
            return torch.tanh(z).sum(dim=1)
        if self.link == "product":
            return z[:, 0] * z[:, 1]
        if self.link == "hermite":
            return hermite_he(z[:, 0], self.degree) / math.sqrt(math.factorial(self.degree))
        W1, b1, a = (t.to(z.dtype) for t in self.net)
        return torch.tanh(z @ W1.T + b1) @ a

    def labels(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``h(U x) + noise ε`` for inputs x of shape (n, d), in x's dtype."""
        U = self._U_cache.get(x.dtype)
        if U is None:
            U = self._U_cache[x.dtype] = self.U.to(x.dtype)
        y = self.h(x @ U.to(x.device).T)
        if self.noise > 0:
            eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device="cpu")
            y = y + self.noise * eps.to(y.device)
        return y

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> tuple[Tensor, Tensor]:
        """Draw n pairs (x, y) from ``input_dist``; randomness from ``generator`` (on CPU)."""
        x = draw_inputs(n, self.d, self.input_dist, generator, dtype)
        y = self.labels(x, generator)
        return x.to(device), y.to(device)


def draw_inputs(
    n: int, d: int, dist: str, generator: torch.Generator, dtype: torch.dtype
) -> Tensor:
    """n inputs in R^d with identity covariance: Gaussian, uniform or Rademacher."""
    if dist == "gaussian":
        return torch.randn(n, d, generator=generator, dtype=dtype)
    u = torch.rand(n, d, generator=generator, dtype=dtype)
    if dist == "uniform":
        return (2.0 * u - 1.0) * math.sqrt(3.0)
    return torch.where(u < 0.5, -1.0, 1.0).to(dtype)


def make_teacher(
    d: int,
    k: int,
    link: str,
    *,
    noise: float = 0.0,
    degree: int = 2,
    U: Tensor | np.ndarray | None = None,
    seed: int = 0,
    network_width: int = 8,
    input_dist: str = "gaussian",
) -> Teacher:
    """Build a teacher, validating the parameters.

    ``U`` may be given (its rows are orthonormalised and checked for full rank); otherwise it is
    Haar-random from ``seed``. ``link`` needs at least 2 indices for ``"product"``.

    Returns
    -------
    Teacher

    Examples
    --------
    >>> import torch
    >>> teacher = make_teacher(10, 2, "sum-tanh", seed=0)
    >>> x, y = teacher.sample(5, torch.Generator().manual_seed(0))
    >>> tuple(x.shape), tuple(y.shape)
    ((5, 10), (5,))
    """
    if link not in LINKS:
        raise InputError(f"unknown link {link!r}; choose one of {', '.join(LINKS)}")
    if d < 1 or k < 1:
        raise InputError(f"need d >= 1 and k >= 1, got d={d}, k={k}")
    if k > d:
        raise InputError(f"k = {k} indices cannot exceed the input dimension d = {d}")
    if link == "product" and k < 2:
        raise InputError("the product link needs k >= 2")
    if not (math.isfinite(noise) and noise >= 0):
        raise InputError(f"noise must be a finite number >= 0, got {noise}")
    if link == "hermite" and not 1 <= degree <= MAX_DEGREE:
        raise InputError(f"Hermite degree must be in [1, {MAX_DEGREE}], got {degree}")
    if input_dist not in INPUT_DISTS:
        raise InputError(f"input_dist must be one of {', '.join(INPUT_DISTS)}, got {input_dist!r}")
    gen = torch.Generator().manual_seed(seed)
    if U is None:
        U_t = random_orthonormal_rows(k, d, gen)
    else:
        U_t = torch.as_tensor(np.asarray(U, dtype=np.float64))
        if U_t.shape != (k, d) or not bool(torch.isfinite(U_t).all()):
            raise InputError(f"U must be a finite ({k}, {d}) matrix, got {tuple(U_t.shape)}")
        Q, R = torch.linalg.qr(U_t.T)
        if float(torch.abs(torch.diagonal(R)).min()) < 1e-10:
            raise InputError("the rows of U must be linearly independent")
        U_t = (Q * torch.sign(torch.diagonal(R))).T.contiguous()
    net: tuple[Tensor, ...] = ()
    if link == "network":
        net = (
            torch.randn(network_width, k, generator=gen, dtype=torch.float64),
            torch.randn(network_width, generator=gen, dtype=torch.float64),
            torch.randn(network_width, generator=gen, dtype=torch.float64)
            / math.sqrt(network_width),
        )
    return Teacher(
        U=U_t, link=link, noise=float(noise), degree=int(degree), net=net, input_dist=input_dist
    )
