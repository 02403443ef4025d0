"""A proven upper bound on a unit-diagonal SDP: a dual certificate checked by a sparse LDL^T.

Weak duality of ``max <C, X>, diag(X) = 1, X psd``: for any ``z`` with ``Diag(z) - C`` positive
semidefinite, ``<C, X> <= sum(z)`` for every feasible ``X`` -- so ``sum(z)`` bounds the SDP and
every ±1 solution (for Max-Cut, ``C = -A/4`` and the cut is ``W/2 + <C, s s^T>``). The dual
vector ``y`` read off the SDP solution almost works -- ``lambda_max(C - Diag(y))`` is small --
but its Lanczos estimate is not a proof. Here we shift ``y`` by ``delta >= 0`` and *prove* that
``F = Diag(y + delta) - C`` is PSD up to a margin ``c`` that covers every rounding error:

1. ``F`` is factored as ``P F P^T = L D L^T`` by QDLDL (AMD ordering, no pivoting). If every
   computed pivot ``d_k`` is positive, the computed factors satisfy ``L D L^T = F + E`` with
   ``|E| <= gamma_K |L| D |L|^T`` (Higham, *Accuracy and Stability of Numerical Algorithms*,
   2nd ed., Thm. 10.3 and its LDL^T form; ``gamma_K = K u / (1 - K u)``, ``u = 2^-53``). As
   ``|L| D |L|^T`` is a Gram matrix whose trace is ``sum_i (L D L^T)_ii <= tr F / (1 - gamma)``,
   ``||E||_2 <= gamma / (1 - gamma) * tr F``. So ``F >= -||E|| I`` (Rump's verification of
   positive definiteness by a floating-point Cholesky, BIT 46, 2006, uses the same argument).
2. The entries of ``F`` are stored exactly (``z`` as given, ``-C`` negated).
3. With ``c`` = (1), ``Diag(z + c) - C`` is PSD exactly, so the bound is ``sum(z) + n c``,
   summed with ``math.fsum`` and rounded upwards; :func:`upper_sum` adds a problem's constant
   rounding upwards too.

We take ``K = 2 n + 4`` (a generous count of the operations in each entry); ``c`` is then of
order ``1e-12 * tr F``, far below the bound's own precision. When the factorisation fails (a
pivot ``<= 0``: ``delta`` too small) ``delta`` grows tenfold and we try again. When the factor
might not fit in memory we say so and no proof is made.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from derand.limits import MEMORY_FRACTION, available_memory, format_bytes

__all__ = ["BackgroundProof", "ProvenBound", "check_psd", "prove_bound", "upper_sum"]

UNIT_ROUNDOFF = 2.0**-53


@dataclass(frozen=True)
class ProvenBound:
    """Outcome of :func:`prove_bound`.

    Attributes
    ----------
    proven : bool
        True when ``upper_bound`` is proven (the factorisation succeeded).
    upper_bound : float
        ``sum(y) + n (delta + margin)`` rounded up when proven; ``nan`` otherwise.
    delta : float
        The shift that made the factorisation succeed.
    margin : float
        ``c``: the rounding-error allowance added per node.
    attempts : int
        Factorisations tried.
    note : str
        Why no proof was made, or an empty string.
    seconds : float
    """

    proven: bool
    upper_bound: float
    delta: float
    margin: float
    attempts: int
    note: str
    seconds: float


def _gamma(k: Any) -> Any:
    """``gamma_k = k u / (1 - k u)`` (Higham's notation), for a number or an array."""
    ku = k * UNIT_ROUNDOFF
    return ku / (1.0 - ku)


def upper_sum(*terms: float) -> float:
    """``sum(terms)`` rounded upwards: never below the exact sum of the given floats.

    Returns
    -------
    float

    Examples
    --------
    >>> upper_sum(0.1, 0.2) >= 0.1 + 0.2
    True
    """
    total = math.fsum(terms)  # correctly rounded: within half an ulp
    return float(np.nextafter(total, np.inf).item())


def _pattern(C: sp.csr_matrix) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The upper triangle's nonzero pairs ``(i < j)``."""
    upper = sp.triu(C, k=1).tocoo()
    return upper.row.astype(np.int64), upper.col.astype(np.int64)


def check_psd(C: Any, z: NDArray[np.float64]) -> tuple[bool, float]:
    """Try to prove ``Diag(z) - C + c I`` positive semidefinite by a floating-point LDL^T.

    Returns
    -------
    (bool, float)
        ``(True, c)`` when every pivot is positive -- then ``Diag(z + c) - C`` is PSD in
        exact arithmetic, with ``c`` the rounding allowance of the module docstring --, and
        ``(False, nan)`` when a pivot is ``<= 0`` or not finite (no conclusion).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> C = sp.csr_matrix(np.array([[0.0, -0.25], [-0.25, 0.0]]))  # Max-Cut of one edge
    >>> check_psd(C, np.array([0.25, 0.25]) + 1e-9)[0], check_psd(C, np.array([0.2, 0.2]))[0]
    (True, False)
    """
    import qdldl

    M = sp.csr_matrix(C, dtype=np.float64)
    n = M.shape[0]
    f = (sp.diags(np.asarray(z, dtype=np.float64)) - M).tocsc()
    try:
        solver = qdldl.Solver(f)
    except ValueError:  # qdldl refuses a zero pivot
        return False, math.nan
    _, d, _ = solver.factors()
    del solver
    if not (np.all(np.isfinite(d)) and np.all(d > 0)):
        return False, math.nan
    trace = float(np.sum(np.abs(z)))
    g = _gamma(2.0 * n + 4.0)
    factor_err = g / (1.0 - g) * trace
    # safety factor for the rounding of c itself; 1e-290 covers underflow in the pivots
    return True, factor_err * (1.0 + 1e-6) + 1e-290


def _memory_estimate(C: sp.csr_matrix) -> float:
    """Bytes the factorisation may need: dense worst case, else a reverse Cuthill-McKee fill."""
    n = int(C.shape[0])
    dense = 40.0 * n * (n - 1) / 2 + 200.0 * n
    if dense <= MEMORY_FRACTION * available_memory():
        return dense
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    perm = reverse_cuthill_mckee(C, symmetric_mode=True)
    inv = np.empty(n, np.int64)
    inv[perm] = np.arange(n)
    u, v = _pattern(C)
    pu, pv = inv[u], inv[v]
    first = np.arange(n)
    np.minimum.at(first, np.maximum(pu, pv), np.minimum(pu, pv))
    envelope = float(np.sum(np.arange(n) - first))  # the fill of an envelope factorisation
    return 40.0 * envelope + 200.0 * n


def prove_bound(
    C: Any, y: NDArray[np.float64], lam: float, *, max_attempts: int = 6
) -> ProvenBound:
    """Prove ``<C, X> <= sum(y) + n (delta + c)`` for every feasible ``X``, for the smallest
    ``delta`` tried that works.

    Parameters
    ----------
    C : sparse matrix
        Symmetric, zero diagonal (as :func:`derand.sdp.solve_sdp` takes it).
    y : ndarray
        Dual vector (:func:`derand.sdp.dual_vector` of the SDP solution).
    lam : float
        Estimate of ``lambda_max(C - Diag(y))`` (Lanczos); ``delta`` starts just above it.
    max_attempts : int
        Factorisations with ``delta``'s margin growing tenfold each time.

    Returns
    -------
    ProvenBound
        ``proven`` tells whether ``upper_bound`` is a proof; ``note`` says why not.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from derand.sdp import solve_sdp, dual_vector
    >>> C = sp.csr_matrix(np.array([[0.0, -0.25], [-0.25, 0.0]]))
    >>> res = solve_sdp(C)
    >>> pb = prove_bound(C, dual_vector(C, res.V), res.lambda_max)
    >>> pb.proven and pb.upper_bound >= 0.5
    True
    """
    start = time.perf_counter()
    M = sp.csr_matrix(C, dtype=np.float64)
    n = M.shape[0]
    need = _memory_estimate(M)
    if need > MEMORY_FRACTION * available_memory():
        return ProvenBound(
            proven=False, upper_bound=math.nan, delta=math.nan, margin=math.nan, attempts=0,
            note=f"the LDL^T factorisation may need {format_bytes(need)}; "
            f"{format_bytes(available_memory())} is available: bound not proven",
            seconds=time.perf_counter() - start,
        )  # fmt: skip
    scale = float(np.sum(np.abs(y))) / n + 4.0 * float(np.max(np.abs(M.data), initial=0.0))
    slack = 1e-9 * max(scale, 1e-300)
    base = max(0.0, lam)
    for attempt in range(1, max_attempts + 1):
        delta = base + slack
        z = y + delta
        ok, c = check_psd(M, z)
        if ok:
            total = math.fsum(z.tolist()) + n * c
            bound = float(np.nextafter(np.nextafter(total, np.inf), np.inf))
            bound += 4 * UNIT_ROUNDOFF * abs(bound)  # fsum rounds once; this covers n * c
            return ProvenBound(
                proven=True, upper_bound=bound, delta=delta, margin=c, attempts=attempt,
                note="", seconds=time.perf_counter() - start,
            )  # fmt: skip
        slack *= 10.0
    return ProvenBound(
        proven=False, upper_bound=math.nan, delta=math.nan, margin=math.nan,
        attempts=max_attempts,
        note=f"no positive LDL^T pivots after {max_attempts} shifts: bound not proven",
        seconds=time.perf_counter() - start,
    )  # fmt: skip


class BackgroundProof:
    """:func:`prove_bound` in a forked child process, beside other work (Max-Cut's search).

    The factorisation runs on a second core while the caller works on the first;
    :meth:`result` waits for it at most until a deadline and ends the child otherwise (a
    factorisation cannot be stopped half-way, and a thread still inside QDLDL when the
    interpreter exits would abort the process). Where ``fork`` is not available (Windows) a
    daemon thread is used instead (QDLDL releases the GIL). Arguments as for
    :func:`prove_bound`, except that ``lam=None`` asks the child to find the eigenvalue
    estimate first (:func:`derand.sdp.top_eigenvalue`, Lanczos: seconds at a half-converged
    SDP point), so that the caller's work does not wait for it; :meth:`eigenvalue` returns it
    as soon as it has arrived.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from derand.sdp import solve_sdp, dual_vector
    >>> C = sp.csr_matrix(np.array([[0.0, -0.25], [-0.25, 0.0]]))
    >>> res = solve_sdp(C)
    >>> task = BackgroundProof(C, dual_vector(C, res.V), res.lambda_max)
    >>> pb = task.result(timeout=60.0)
    >>> pb is not None and pb.proven and pb.upper_bound >= 0.5
    True
    """

    def __init__(self, C: Any, y: NDArray[np.float64], lam: float | None) -> None:
        import multiprocessing as mp

        self.started = time.perf_counter()
        self._result: ProvenBound | None = None
        self._error: BaseException | None = None
        self._eigenvalue: tuple[float, str] | None = None
        self._done = False
        self._proc: Any = None
        self._thread: threading.Thread | None = None
        if "fork" in mp.get_all_start_methods():
            ctx = mp.get_context("fork")
            self._conn, child = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(
                target=_child, args=(child, C, y, lam), name="derand-proof", daemon=True
            )
            with warnings.catch_warnings():  # Python >= 3.12 warns of forking with threads
                warnings.simplefilter("ignore", DeprecationWarning)  # (the child uses none)
                self._proc.start()
            child.close()
        else:  # pragma: no cover - no fork on this platform
            self._thread = threading.Thread(
                target=self._run, args=(C, y, lam), name="derand-proof", daemon=True
            )
            self._thread.start()

    def _run(self, C: Any, y: NDArray[np.float64], lam: float | None) -> None:
        try:  # pragma: no cover - the thread fallback
            if lam is None:
                self._eigenvalue = _eigenvalue(C, y)
                lam = self._eigenvalue[0]
            self._result = prove_bound(C, y, lam)
        except BaseException as exc:  # pragma: no cover - handed to the caller by result()
            self._error = exc

    def _receive(self, timeout: float) -> bool:
        """Read the child's messages for at most ``timeout`` seconds; True once the proof's
        outcome (or an error, or the child's end) has arrived."""
        deadline = time.perf_counter() + max(0.0, timeout)
        while not self._done:
            try:
                if not self._conn.poll(max(0.0, deadline - time.perf_counter())):
                    return False
                kind, value = self._conn.recv()
            except (EOFError, OSError):  # the child died without an answer (killed, say)
                self._result = ProvenBound(
                    proven=False, upper_bound=math.nan, delta=math.nan, margin=math.nan,
                    attempts=0, note="the proof's process ended without an answer: not proven",
                    seconds=time.perf_counter() - self.started,
                )  # fmt: skip
                self._done = True
                break
            if kind == "eigenvalue":
                self._eigenvalue = value
                continue
            if kind == "error":
                self._error = value
            else:
                self._result = value
            self._done = True
        return True

    def eigenvalue(self) -> tuple[float, str] | None:
        """The child's estimate of ``lambda_max(C - Diag(y))`` and its method
        (:func:`derand.sdp.top_eigenvalue`) once it has arrived, without waiting; ``None``
        before that, and always when ``lam`` was given.

        Returns
        -------
        (float, str) or None
        """
        if self._proc is not None and self._eigenvalue is None:
            self._receive(0.0)
        return self._eigenvalue

    def result(self, timeout: float) -> ProvenBound | None:
        """The proof's outcome, waiting at most ``timeout`` seconds; ``None`` when it has not
        finished by then (the child is then ended; :meth:`eigenvalue` keeps what arrived).

        Returns
        -------
        ProvenBound or None

        Raises
        ------
        Exception
            Whatever :func:`prove_bound` raised in the child (a MemoryError, say).
        """
        if self._thread is not None:  # pragma: no cover - the thread fallback
            self._thread.join(max(0.0, timeout))
            if self._thread.is_alive():
                return None
            if self._error is not None:
                raise self._error
            return self._result
        try:
            if self._proc is not None:
                self._receive(timeout)
        finally:
            self.close()
        if self._error is not None:
            raise self._error
        return self._result

    def wait(self, timeout: float) -> ProvenBound:
        """:meth:`result`, with a proof that has not finished by then reported as not proven
        (the note says so and that the Lanczos bound stands).

        Returns
        -------
        ProvenBound
        """
        pb = self.result(timeout)
        if pb is not None:
            return pb
        return ProvenBound(
            proven=False, upper_bound=math.nan, delta=math.nan, margin=math.nan, attempts=0,
            note="the LDL^T proof did not finish within the time limit: Lanczos bound, not proven",
            seconds=time.perf_counter() - self.started,
        )  # fmt: skip

    def close(self) -> None:
        """End the child (if it is still running) and free its resources."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(1.0)
            self._conn.close()
            self._proc = None


def _eigenvalue(C: Any, y: NDArray[np.float64]) -> tuple[float, str]:
    """:func:`derand.sdp.top_eigenvalue` of ``C - Diag(y)``, with the BLAS on one thread (the
    caller's work has the other core)."""
    from threadpoolctl import threadpool_limits

    from derand.sdp.mixing import top_eigenvalue

    with threadpool_limits(limits=1, user_api="blas"):
        return top_eigenvalue(sp.csr_matrix(C, dtype=np.float64), y)


def _child(conn: Any, C: Any, y: NDArray[np.float64], lam: float | None) -> None:
    """The body of :class:`BackgroundProof`'s process: the eigenvalue estimate when ``lam`` is
    ``None`` (one message), then the proof's outcome (one message)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        if lam is None:
            found = _eigenvalue(C, y)
            conn.send(("eigenvalue", found))
            lam = found[0]
        answer: tuple[str, Any] = ("ok", prove_bound(C, y, lam))
    except Exception as exc:
        answer = ("error", exc)
    conn.send(answer)
    conn.close()
