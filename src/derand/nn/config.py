"""The settings of a teacher–student run, validated when they are built (paper §4).

This module imports neither torch nor numpy, so that the command line can describe and check
a run before the heavy stack is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from derand.errors import InputError
from derand.limits import check_count, check_finite, check_seed

Link = Literal["tanh", "sum-tanh", "product", "hermite", "network"]
Activation = Literal["relu-iota", "tanh", "gelu", "silu", "relu"]
Init = Literal["authors", "standard"]
Loss = Literal["mse", "huber", "logistic"]
Optimizer = Literal["pgd", "sgd", "adam"]
Backend = Literal["fused", "fused-torch", "autograd"]
DType = Literal["float32", "float64"]
InputDist = Literal["gaussian", "uniform", "rademacher"]
LrScaling = Literal["auto", "mup", "none"]
LrSchedule = Literal["plateau", "constant"]
PGDGate = Literal["certificate", "batch"]
Until = Literal["sosp", "plateau", "steps"]
LamConvention = Literal["paper", "authors"]
LayerGroup = Literal["first-weight", "first-bias", "hidden", "output"]

LINKS: tuple[str, ...] = get_args(Link)
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
SMOOTH_ACTIVATIONS = ("relu-iota", "tanh", "gelu", "silu")
INITS: tuple[str, ...] = get_args(Init)
LOSSES: tuple[str, ...] = get_args(Loss)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
BACKENDS: tuple[str, ...] = get_args(Backend)
INPUT_DISTS: tuple[str, ...] = get_args(InputDist)
LAYER_NAMES: tuple[str, ...] = get_args(LayerGroup)

# What is meaningful, not what fits: memory is checked separately from the sizes.
MAX_DIM = 100_000
MAX_WIDTH = 1_000_000
MAX_DEPTH = 64
MAX_SAMPLES = 100_000_000
MAX_STEPS = 10**9
MAX_LOG_POINTS = 10_000
MAX_DEGREE = 30
MAX_LAM = 1e6
MAX_LR = 1e300
DEFAULT_STEPS = 20_000
"""The step cap when ``steps`` is not given (doubled while the run improves, see ``steps``)."""

# Settings that only steer a run (how far, how often to save) and may differ on resume.
RUN_CONTROL = frozenset({"steps", "time_limit", "checkpoint_every", "device"})


def _describe(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _check_type(name: str, value: Any, tp: Any) -> Any:
    """``value`` converted to the annotated type ``tp``, or an :class:`InputError`."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check_type(name, value, inner)
    if origin is Literal:
        if not isinstance(value, str) or value not in args:
            raise InputError(f"{name} must be {_describe(tp)}, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{name} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{name} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{name} must be a string, got {value!r}")
        return value
    if origin is tuple:  # tuple[LayerGroup, ...]
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise InputError(f"{name} must be a list, got {value!r}")
        return tuple(_check_type(name, v, args[0]) for v in value)
    if origin is list:  # teacher_U: list[list[float]]
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{name} must be a list of rows, got {value!r}")
        return [_check_type(name, v, args[0]) for v in value]
    raise AssertionError(f"unhandled annotation {tp!r} for {name}")  # pragma: no cover


def _orthonormal_rank(rows: list[list[float]]) -> int:
    """Rank of the rows by Gram–Schmidt (pure Python: k and d are small here)."""
    basis: list[list[float]] = []
    for row in rows:
        v = list(row)
        for b in basis:
            dot = sum(x * y for x, y in zip(v, b, strict=True))
            v = [x - dot * y for x, y in zip(v, b, strict=True)]
        norm = math.sqrt(sum(x * x for x in v))
        scale = math.sqrt(sum(x * x for x in row))
        if norm > 1e-10 * max(scale, 1e-300):
            basis.append([x / norm for x in v])
    return len(basis)


@dataclass(frozen=True, repr=False)
class TrainConfig:
    """Everything that defines a run; the CLI flags and TOML keys have the same names.

    The settings are checked when the object is built: a wrong type, an unknown choice or an
    impossible combination raises :class:`~derand.errors.InputError` naming the setting.
    ``None`` means "derived from the others" (see each field). Build one from a preset with
    :meth:`from_preset` or from a mapping (a TOML table) with :meth:`from_dict`.

    Teacher
        ``d``, ``k``, ``link``, ``noise``, ``degree`` (Hermite link), ``teacher_seed``
        (default: a stream derived from ``seed``, independent of the initialisation's),
        ``teacher_U`` (k x d rows spanning the teacher subspace; random from the teacher's
        seed if absent), ``input_dist`` (``gaussian``: the theorem's x ~ N(0, I_d);
        ``uniform`` and ``rademacher`` have unit variance and lie outside the theorem).
    Student
        ``width``, ``depth``, ``activation``, ``iota``, ``init`` (``authors``: mean-field scale,
        ``standard``: PyTorch's), ``output_bias``, ``freeze`` (layer groups not trained).
    Objective
        ``loss``, ``huber_delta``, ``lam`` (weight decay λ on the first layer's W; default
        ``0.5 / width``, the mean-field scaling of ``λ‖W‖_F²``), ``lam_convention``
        (``paper``: the penalty ``λ‖W‖_F²``, whose gradient is ``2λW``, as in Theorem 4.1;
        ``authors``: ``lam`` is the authors' decay, a gradient ``λW`` — torch's
        ``weight_decay`` —, i.e. the penalty ``(λ/2)‖W‖_F²``: half the paper's at the same
        number), ``lam_collapse_factor`` (where ``until = "sosp"`` meets a collapsed point —
        W ≈ 0, nothing learned — λ is multiplied by it, at most once per factor 1.5 in the
        steps; 1 keeps λ), ``lam_all_layers``.
    Data
        ``batch`` fresh samples per step (``n_train``: minibatches from a fixed training set
        instead), ``n_test``.
    Optimiser
        ``optimizer``, ``backend`` (``fused``: the hand-written step, compiled with numba on
        the CPU where it applies — one hidden layer, relu-iota / tanh / relu, MSE, PGD or
        SGD, see :mod:`derand.nn.compiled` — and in torch elsewhere; ``fused-torch``: always
        the torch step, the reference; ``autograd``: PyTorch's backward), ``lr`` (the base
        rate η; default 0.05 for PGD/SGD, 0.005
        for Adam), ``lr_scaling`` (``mup``: per-layer rates from the width, see
        :func:`derand.nn.rates.layer_rates`; ``none``: every group uses ``lr``; ``auto``:
        ``mup`` with the authors' initialisation, ``none`` with PyTorch's), absolute per-group
        overrides ``lr_first_weight``, ``lr_first_bias``, ``lr_hidden``, ``lr_output``;
        ``lr_schedule`` (``plateau``: linear warm-up over ``lr_warmup`` steps, then the rates
        are multiplied by ``lr_decay`` whenever ‖W_⊥‖_F stops falling, down to
        ``lr_min_factor``; ``constant``); PGD's ``pgd_gate`` (``certificate``: perturb at a check
        on the fixed sample that finds ρ small but λ_min < −√(Kρ), a strict saddle; ``batch``:
        Jin et al.'s rule on the minibatch gradient norm), ``pgd_threshold`` (default: the ρ
        the certificate needs; 1e-3 for ``batch``), ``pgd_radius`` (default: Jin et al.'s
        ρ/ℓ with ℓ the top Hessian eigenvalue; 5e-3 for ``batch``), ``pgd_t_thres``.
    Run
        ``until`` (``sosp``: stop at a certified ρ-SOSP whose Theorem 4.1 bound is below
        ``sosp_fraction`` times the initial ‖W_⊥‖_F; ``plateau``: when ‖W_⊥‖_F stopped
        falling at the smallest rate; ``steps``: after ``steps``), ``steps`` (the step cap;
        when not given, 20,000 for the log schedule, doubled each time it is reached while
        the run still improves — ‖W_⊥‖_F down 5 % or the test loss 1 % since half the
        steps — and the time limit allows: with ``sosp`` and ``plateau`` the stopping rule or
        ``time_limit`` ends the run, not an arbitrary count),
        ``time_limit`` (seconds, a cap for ``sosp`` and ``plateau``), ``log_points``,
        ``checkpoint_every``, ``seed``, ``device``, ``dtype``.
    Certificate
        ``certificate`` (the checks during training and the certificate at the end; without
        it, ``until = "sosp"`` stops as ``plateau`` does and PGD perturbs by the minibatch
        rule), ``n_cert`` (fixed float64 sample),
        ``k_probes`` (probes of the Hessian-Lipschitz estimate), ``lanczos_steps`` (Lanczos
        iterations of the checks during training), ``sosp_fraction``.
    Logging
        ``order_neurons`` (neurons whose overlaps M = W Uᵀ and Q = W Wᵀ are logged).

    Examples
    --------
    >>> from derand.nn import TrainConfig
    >>> config = TrainConfig.from_preset("fig3", steps=300)
    >>> config.steps, config.width
    (300, 1000)
    >>> TrainConfig(d=10, k=3, width=64)
    TrainConfig(d=10, k=3, width=64)
    """

    d: int = 20
    k: int = 2
    link: Link = "sum-tanh"
    noise: float = 0.0
    degree: int = 2
    teacher_seed: int | None = None
    teacher_U: list[list[float]] | None = None
    input_dist: InputDist = "gaussian"
    width: int = 256
    depth: int = 1
    activation: Activation = "relu-iota"
    iota: float = 2.0
    init: Init = "authors"
    output_bias: bool = False
    freeze: tuple[LayerGroup, ...] = ()
    loss: Loss = "mse"
    huber_delta: float = 1.0
    lam: float | None = None
    lam_convention: LamConvention = "paper"
    lam_collapse_factor: float = 0.1
    lam_all_layers: bool = False
    batch: int = 100
    n_train: int | None = None
    n_test: int = 4096
    optimizer: Optimizer = "pgd"
    backend: Backend = "fused"
    lr: float | None = None
    lr_scaling: LrScaling = "auto"
    lr_first_weight: float | None = None
    lr_first_bias: float | None = None
    lr_hidden: float | None = None
    lr_output: float | None = None
    lr_schedule: LrSchedule = "plateau"
    lr_warmup: int = 100
    lr_decay: float = 0.5
    lr_min_factor: float = 1 / 64
    pgd_gate: PGDGate = "certificate"
    pgd_threshold: float | None = None
    pgd_radius: float | None = None
    pgd_t_thres: int = 100
    until: Until = "sosp"
    steps: int | None = None
    time_limit: float = 120.0
    log_points: int = 60
    checkpoint_every: int = 0
    seed: int = 0
    device: str = "cpu"
    dtype: DType = "float32"
    certificate: bool = True
    n_cert: int = 4096
    k_probes: int = 2
    lanczos_steps: int = 12
    sosp_fraction: float = 0.5
    order_neurons: int = 8

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _check_type(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self._check_ranges()

    def _check_ranges(self) -> None:
        check_count(self.d, "d", high=MAX_DIM)
        check_count(self.k, "k", high=MAX_DIM)
        if self.k > self.d:
            raise InputError(f"k = {self.k} teacher indices cannot exceed d = {self.d}")
        if self.link == "product" and self.k < 2:
            raise InputError("the product link needs k >= 2")
        check_finite(self.noise, "noise", low=0.0, high=1e6)
        check_count(self.degree, "degree", high=MAX_DEGREE)
        if self.teacher_seed is not None:
            check_seed(self.teacher_seed, "teacher_seed")
        check_seed(self.seed, "seed")
        if self.teacher_U is not None:
            rows = self.teacher_U
            if len(rows) != self.k or any(len(r) != self.d for r in rows):
                shape = f"{len(rows)} rows of lengths {sorted({len(r) for r in rows})}"
                raise InputError(f"teacher_U must be k x d = {self.k} x {self.d}, got {shape}")
            for row in rows:
                for v in row:
                    check_finite(v, "teacher_U entries", low=-1e150, high=1e150)
            if _orthonormal_rank(rows) < self.k:
                raise InputError("the rows of teacher_U must be linearly independent")
        check_count(self.width, "width", high=MAX_WIDTH)
        check_count(self.depth, "depth", high=MAX_DEPTH)
        check_finite(self.iota, "iota", low=1e-6, high=1e6)
        if "first-weight" in self.freeze:
            raise InputError("freeze: the first layer's W must be trained (it is what is studied)")
        if len(set(self.freeze)) != len(self.freeze):
            raise InputError(f"freeze lists a layer group twice: {list(self.freeze)}")
        check_finite(self.huber_delta, "huber_delta", low=1e-12, high=1e12)
        check_finite(self.lam_collapse_factor, "lam_collapse_factor", low=1e-6, high=1.0)
        if self.lam is not None:
            check_finite(self.lam, "lam", low=0.0, high=MAX_LAM)
        check_count(self.batch, "batch", high=MAX_SAMPLES)
        if self.n_train is not None:
            check_count(self.n_train, "n_train", high=MAX_SAMPLES)
        check_count(self.n_test, "n_test", high=MAX_SAMPLES)
        for name in ("lr", "lr_first_weight", "lr_first_bias", "lr_hidden", "lr_output"):
            value = getattr(self, name)
            if value is not None and not (0 < check_finite(value, name, high=MAX_LR)):
                raise InputError(f"{name} must be > 0, got {value}")
        if self.lr_scaling == "mup" and self.init != "authors":
            raise InputError(
                "lr_scaling 'mup' assumes the mean-field initialisation (init 'authors')"
            )
        check_count(self.lr_warmup, "lr_warmup", low=0, high=MAX_STEPS)
        check_finite(self.lr_decay, "lr_decay", low=1e-6, high=1.0)
        check_finite(self.lr_min_factor, "lr_min_factor", low=1e-12, high=1.0)
        for name in ("pgd_threshold", "pgd_radius"):
            value = getattr(self, name)
            if value is not None:
                check_finite(value, name, low=0.0, high=1e12)
        check_count(self.pgd_t_thres, "pgd_t_thres", low=0, high=MAX_STEPS)
        if self.steps is not None:
            check_count(self.steps, "steps", high=MAX_STEPS)
        check_finite(self.time_limit, "time_limit", low=1e-3, high=1e9)
        check_count(self.log_points, "log_points", low=2, high=MAX_LOG_POINTS)
        check_count(self.checkpoint_every, "checkpoint_every", low=0, high=MAX_STEPS)
        check_count(self.n_cert, "n_cert", high=MAX_SAMPLES)
        check_count(self.k_probes, "k_probes", high=1000)
        check_count(self.lanczos_steps, "lanczos_steps", low=2, high=1000)
        check_finite(self.sosp_fraction, "sosp_fraction", low=1e-12, high=1e12)
        check_count(self.order_neurons, "order_neurons", low=0, high=1000)
        if self.device not in ("cpu", "auto") and not self.device.startswith("cuda"):
            raise InputError(f"device must be cpu, cuda or auto, got {self.device!r}")

    # Derived settings -----------------------------------------------------------------------

    @property
    def effective_lam(self) -> float:
        """λ of the penalty ``λ‖W‖_F²`` (the paper's convention): ``lam``, or ``0.5 / width``
        (mean-field scaling) when it is ``None``; half of ``lam`` when ``lam_convention`` is
        ``"authors"`` (their decay ``λW`` is the gradient of ``(λ/2)‖W‖_F²``)."""
        lam = 0.5 / self.width if self.lam is None else self.lam
        return lam / 2 if self.lam_convention == "authors" and self.lam is not None else lam

    @property
    def effective_lr(self) -> float:
        """The base rate η: ``lr``, or 0.05 (PGD, SGD) / 0.005 (Adam) when it is ``None``."""
        if self.lr is not None:
            return self.lr
        return 0.005 if self.optimizer == "adam" else 0.05

    @property
    def step_cap(self) -> int:
        """The first step cap: ``steps``, or ``DEFAULT_STEPS`` when it is not given."""
        return DEFAULT_STEPS if self.steps is None else self.steps

    @property
    def extends_steps(self) -> bool:
        """Whether the cap is doubled while the run improves (``steps`` not given, and
        ``until`` is ``sosp`` or ``plateau``)."""
        return self.steps is None and self.until != "steps"

    @property
    def uses_mup(self) -> bool:
        """Whether the per-layer rates follow μP (``lr_scaling`` resolved)."""
        if self.lr_scaling == "auto":
            return self.init == "authors"
        return self.lr_scaling == "mup"

    @property
    def trained(self) -> frozenset[str]:
        """The trained layer groups."""
        return frozenset(name for name in LAYER_NAMES if name not in self.freeze)

    # Construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. a TOML table); unknown keys are errors.

        Parameters
        ----------
        values : mapping
            Field names to values; ``freeze`` may be a list.

        Returns
        -------
        TrainConfig

        Examples
        --------
        >>> TrainConfig.from_dict({"d": 8, "k": 1, "link": "tanh"}).k
        1
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in values if k not in names)
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named preset (see :data:`derand.nn.PRESETS`), with ``overrides`` on top.

        Returns
        -------
        TrainConfig

        Examples
        --------
        >>> TrainConfig.from_preset("multi-index", steps=100).d
        20
        """
        from derand.nn.presets import PRESETS

        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (``freeze`` as a list)."""
        values = dataclasses.asdict(self)
        values["freeze"] = list(self.freeze)
        return values

    def __repr__(self) -> str:
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        text = ", ".join(changed)
        if len(text) > 400:
            text = text[:400] + ", …"
        return f"TrainConfig({text})"
