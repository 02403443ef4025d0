"""The bound's proof beside the search: a forked process, waited for until the time limit.

The sparse LDL^T that proves the SDP bound (:func:`derand.sdp.prove_bound`) can take longer
than a short time limit. With a limit, the pipeline starts it in a forked process right after
the SDP and collects it at the end, waiting at most for what is left of the limit; a proof
that has not finished by then is stopped and the Lanczos bound is reported, not proven, with
a note. Where ``fork`` is not available the proof runs inline.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from derand.sdp import ProvenBound, prove_bound

__all__ = ["Proof"]


def _child(conn: Connection, C: Any, y: NDArray[np.float64], lam: float) -> None:
    try:
        conn.send(prove_bound(C, y, lam))
    except BaseException as exc:  # Ctrl-C reaches the whole process group
        conn.send(_failed(f"the proof stopped: {type(exc).__name__}"))
    finally:
        conn.close()


def _failed(note: str) -> ProvenBound:
    nan = float("nan")
    return ProvenBound(proven=False, upper_bound=nan, delta=nan, margin=nan, attempts=0,
                       note=note, seconds=0.0)  # fmt: skip


class Proof:
    """``prove_bound(C, y, lam)``, inline (``background=False`` or no ``fork``) or in a child.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from derand.sdp import solve_sdp, dual_vector
    >>> C = sp.csr_matrix(np.array([[0.0, -0.25], [-0.25, 0.0]]))
    >>> s = solve_sdp(C)
    >>> Proof(C, dual_vector(C, s.V), s.lambda_max, background=True).wait(60.0).proven
    True
    """

    def __init__(self, C: Any, y: NDArray[np.float64], lam: float, *, background: bool) -> None:
        self._result: ProvenBound | None = None
        self._proc: Any = None
        if not background or "fork" not in mp.get_all_start_methods():
            self._result = prove_bound(C, y, lam)
            return
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child, C, y, lam), daemon=True)
        self._proc.start()
        child.close()

    def wait(self, timeout: float | None) -> ProvenBound:
        """The proof's outcome, waiting at most ``timeout`` seconds (``None``: until done);
        a proof still running then is stopped and reported as not proven."""
        if self._result is not None:
            return self._result
        try:
            ready = self._conn.poll(timeout)
            result = self._conn.recv() if ready else None
        except (EOFError, OSError):
            result = _failed("the proof's process ended without a result")
        if result is None:
            self._proc.terminate()
            result = _failed("the LDL^T proof did not finish within the time limit: "
                             "Lanczos bound, not proven")  # fmt: skip
        self._proc.join()
        self._conn.close()
        self._result = result
        return result
