"""The result of a training run (:func:`derand.nn.train`): why it stopped, the logs, the
alignment of the first layer with the teacher subspace, the certificate and the compression.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from derand.core import SOSPCertificate
from derand.nn.compression import Compression
from derand.nn.config import TrainConfig
from derand.nn.rates import LayerRates
from derand.nn.students import Student

__all__ = ["STOP_REASONS", "TrainResult"]

STOP_REASONS = ("sosp", "plateau", "steps", "max-steps", "time-limit", "interrupted")
"""Why a run stopped (``TrainResult.stop_reason``)."""


@dataclass
class TrainResult:
    """A training run: why it stopped, the logs, the final alignment and the certificate.

    Attributes
    ----------
    steps : int
        Steps taken.
    seconds : float
        Wall time of the training loop (logging and checks included).
    stop_reason : str
        ``"sosp"`` (a certified ρ-SOSP with an informative bound), ``"plateau"`` (‖W_⊥‖
        stopped falling at the smallest rate), ``"steps"`` (``until = "steps"``),
        ``"max-steps"`` or ``"time-limit"`` (a cap was reached first), ``"interrupted"``.
    perp_ratio_initial, perp_ratio_final : float
        ‖W_⊥‖_F/‖W‖_F at the start and at the end.
    perp_norm_initial, perp_norm_final : float
        ‖W_⊥‖_F at the start and at the end: the randomness the lemma drives to 0, also
        available under the engine's name as :attr:`randomness_initial` and
        :attr:`randomness_final` (and in :meth:`summary`).
    principal_angles_deg, effective_rank, test_loss : ...
        At the end (``test_loss`` on the whole test set).
    certificate : SOSPCertificate or None
        Over the first layer's (W, b) (Theorem 4.1's variables), on ``n_cert`` fixed samples,
        with a local estimate of K (so its ``bound`` is an estimate; see ``certified``).
        Its ``bound`` (Theorem 4.1, on ‖W_⊥‖_F) is given only where the hypotheses hold;
        ``failures`` says which fail otherwise. The theorem bounds W_⊥; it does not say W
        spans all of span(U) — see ``principal_angles_deg``.
    compression : Compression
    log : list of dict
        One row per log point: ``step``, ``lr_factor``, ``train_loss``, ``test_loss`` (on the
        first ``log_test_samples`` test points), the alignment, the order parameters.
    certificate_log : list of dict
        The checks during training: ``step``, ``grad_norm``, ``rho_target``, and where
        computed ``lambda_min``, ``lambda_max``, ``K``, ``bound``, ``failures``, ``perturbed``.
    n_perturbations : int
        PGD perturbations.
    interrupted : bool
    config : TrainConfig
    rates : LayerRates
        The learning rates used (before the schedule's factor).
    lam : float
        The weight decay λ used.
    seconds_logging, seconds_checks : float
        Parts of ``seconds`` spent on the log and on the certificate checks.
    step_kernel : str
        Which implementation took the training steps: ``"compiled"`` (the numba kernel of
        :mod:`derand.nn.compiled`), ``"torch"`` (the hand-written torch step) or
        ``"autograd"``.
    checkpoint : str or None
        Where the last checkpoint was written (at the end, or at the interruption: resume
        from it with ``resume=True``); ``None`` when no checkpoint path was given.
    reproducible : bool
        ``False`` when the time limit ended the run: how many steps fit in ``time_limit``
        depends on the machine and its load, so the same settings and seed give other steps
        and numbers on another run. Every other stop depends on the steps alone and is
        reproduced bit for bit (same machine and thread count).
    par_norm_initial, par_norm_final : float
        ‖W_∥‖_F (the rows of W projected on span(U)) at the start and at the end: with
        ``perp_norm_*``, the absolute sizes (the ratio alone means nothing as ‖W‖ → 0).
    outcome : str
        What happened (:mod:`derand.nn.outcome`): ``"structure found"``, ``"collapsed"``
        (W ≈ 0, nothing explained: ‖W_⊥‖ → 0 means nothing here) or ``"not converged"``;
        ``outcome_message`` says it in a line.
    directions_found : int
        Teacher directions recovered (principal angle at most 10°), of k.
    explained : float
        ``1 − test_loss / baseline_loss``: the share of the teacher's variance explained (MSE;
        the deviance explained otherwise).
    baseline_loss : float
        Test loss of the best constant predictor (for MSE: Var(y) on the test set).
    collapse_escapes : list of dict
        Where ``until = "sosp"`` would have stopped at a collapsed point and went on instead
        (``step``, ``instead_of``: ``"sosp"`` or ``"plateau"``, ``perturbed``, ``radius``).
    certified : bool
        Whether Theorem 4.1's bound holds with a **proven** Hessian-Lipschitz constant
        (:mod:`derand.nn.lipschitz`: depth 1, a smooth activation, MSE or logistic, Gaussian
        inputs); ``certificate.bound`` uses the local estimate of K and is an estimate.
        ``certified_note`` says how far the proven bound is from informative, or why there is
        no proven K.
    K_proven, K_proven_radius : float or None
        The proven K and the ball around the point it holds on (``None``: everywhere).
    certificate_proven : SOSPCertificate or None
        The certificate with ``K_proven`` (``K_is_estimate`` false); its ``bound`` is the
        certified one.
    sosp_all : dict or None
        ``grad_norm``, ``lambda_min`` (with ``residual``, ``converged``) and ``n_params`` over
        every trained parameter — the theorem's ρ-SOSP — on the same fixed sample.
    span_fit : dict or None
        The best predictor that sees only the projection of x onto the span found (the top-k
        right singular subspace of W), and for reference onto the teacher's span U
        (:mod:`derand.nn.span`: kernel ridge regression on fresh samples): ``found_loss``,
        ``found_explained``, ``teacher_loss``, ``teacher_explained`` (explained against the
        best constant predictor, as ``explained``), the chosen ``*_lengthscale`` and
        ``*_ridge``, ``method`` and ``n_fit``. ``explained`` far below ``found_explained``:
        the span holds more than the student fits; ``found_explained`` below
        ``teacher_explained``: the span misses part of the teacher. ``None`` for an
        interrupted run.
    """

    steps: int
    seconds: float
    stop_reason: str
    perp_ratio_initial: float
    perp_ratio_final: float
    perp_norm_initial: float
    perp_norm_final: float
    principal_angles_deg: list[float]
    effective_rank: float
    test_loss: float
    certificate: SOSPCertificate | None
    compression: Compression
    log: list[dict[str, Any]]
    certificate_log: list[dict[str, Any]]
    n_perturbations: int
    interrupted: bool
    config: TrainConfig
    rates: LayerRates
    lam: float
    seconds_logging: float = 0.0
    seconds_checks: float = 0.0
    step_kernel: str = "torch"
    checkpoint: str | None = None
    reproducible: bool = True
    par_norm_initial: float = 0.0
    par_norm_final: float = 0.0
    outcome: str = "not converged"
    outcome_message: str = ""
    directions_found: int = 0
    explained: float = 0.0
    baseline_loss: float = 0.0
    collapse_escapes: list[dict[str, Any]] = field(default_factory=list)
    certified: bool = False
    certified_note: str = ""
    K_proven: float | None = None
    K_proven_radius: float | None = None
    certificate_proven: SOSPCertificate | None = None
    sosp_all: dict[str, Any] | None = None
    span_fit: dict[str, Any] | None = None
    snapshots: list[list[list[float]]] = field(default_factory=list, repr=False)
    snapshot_steps: list[int] = field(default_factory=list, repr=False)
    teacher_U: list[list[float]] = field(default_factory=list, repr=False)
    model: Student | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """The JSON fields: everything but the model, the config and the d = 2 snapshots.

        Only dicts, lists, strings, numbers, booleans and ``None`` (a non-finite number
        becomes ``None``): ``json.dumps(result.summary(), allow_nan=False)`` always works.
        """
        from derand.results import jsonable

        skip = {"snapshots", "snapshot_steps", "config", "model"}
        fields = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip
        }
        fields["randomness_initial"] = self.randomness_initial
        fields["randomness_final"] = self.randomness_final
        summary: dict[str, Any] = jsonable(fields)
        return summary

    @property
    def randomness_initial(self) -> float:
        """‖W_⊥‖_F at the start, under the name ``derand.core`` uses for the randomness left."""
        return self.perp_norm_initial

    @property
    def randomness_final(self) -> float:
        """‖W_⊥‖_F at the end (``perp_norm_final``), the randomness left."""
        return self.perp_norm_final

    def __repr__(self) -> str:
        bound = (
            "n/a"
            if self.certificate is None or self.certificate.bound is None
            else (f"{self.certificate.bound:.3g}")
        )
        return (
            f"TrainResult(steps={self.steps}, stop_reason={self.stop_reason!r}, "
            f"perp_ratio={self.perp_ratio_initial:.3g}->{self.perp_ratio_final:.3g}, "
            f"test_loss={self.test_loss:.4g}, bound={bound}, seconds={self.seconds:.1f})"
        )
