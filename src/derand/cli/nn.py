"""``derand nn``: train a student on a multiple-index teacher and watch W_⊥ vanish."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from derand.cli.common import (
    HelpFormatter,
    add_common_options,
    envelope,
    progress,
    save_outputs,
    say,
)
from derand.errors import InputError
from derand.nn.config import LAYER_NAMES, SMOOTH_ACTIVATIONS, TrainConfig
from derand.nn.presets import PRESETS

DESCRIPTION = """\
Train a student network on a teacher y = h(U x) + noise, x ~ N(0, I_d), and measure how the
first layer collapses onto span(U) (paper Theorem 4.1): ||W_perp||_F, principal angles, the
order parameters M = W U^T and Q = W W^T; stop at a certified second-order stationary point
(--until sosp), when ||W_perp|| stops falling (plateau) or after --steps; then the SOSP
certificate and a rank-k compression of the first layer.

Defaults work on any setting: learning rates scale with the width as the mean-field /
muP parametrisation requires (first layer eta*width, hidden eta, output eta/width), with a
warm-up and a decay each time ||W_perp|| stops falling; lam = 0.5/width.

Settings come from, in increasing priority: defaults, --preset, --config FILE.toml (keys are
the option names with underscores), then options on the command line.

examples:
  derand nn --d 30 --k 3 --depth 2 --activation gelu --seed 7
  derand nn --preset fig3 --plot results/nn
  derand nn --preset multi-index --json results/nn.json
  derand nn --config examples/run.toml
  derand nn --d 50 --k 3 --width 512 --depth 2 --activation gelu --until plateau
  derand nn --preset fig3 --checkpoint run.ckpt   # Ctrl-C saves; then the same with --resume
  derand nn --preset fig3 --checkpoint run.ckpt --resume-if-exists   # first run or resume
"""

HELP: dict[str, str] = {
    "d": "input dimension",
    "k": "number of teacher indices (dim of span(U))",
    "link": "teacher link h",
    "noise": "label noise standard deviation",
    "degree": "degree of the Hermite link",
    "teacher_seed": "seed of the random teacher subspace",
    "input_dist": "input distribution (uniform and rademacher lie outside the theorem)",
    "width": "hidden width",
    "depth": "number of hidden layers",
    "activation": "activation (relu is a non-smooth ablation, outside the theorem)",
    "iota": "temperature of relu-iota = softplus(iota x)/iota",
    "init": "initialisation: the authors' (mean-field) or PyTorch's",
    "output_bias": "give the output layer a bias",
    "freeze": f"layer groups not trained, among {', '.join(LAYER_NAMES)}",
    "loss": "training loss",
    "huber_delta": "delta of the Huber loss",
    "lam": "weight decay lambda on the first layer's W",
    "lam_convention": "paper: penalty lam*||W||^2 (gradient 2 lam W, Theorem 4.1); authors: "
    "their decay, gradient lam W (half the paper's at the same lam)",
    "lam_collapse_factor": "at a collapsed point (W ~ 0, nothing learned) --until sosp "
    "multiplies lam by this (1: keep lam)",
    "lam_all_layers": "also decay the other trained weight matrices",
    "batch": "fresh samples per step",
    "n_train": "fixed training set size",
    "n_test": "test set size",
    "optimizer": "pgd (perturbed GD), sgd (no perturbations) or adam",
    "backend": "fused: hand-written backward pass, compiled on the CPU where it applies "
    "(fast); fused-torch: the same in torch; autograd: PyTorch's",
    "lr": "base learning rate eta",
    "lr_scaling": "mup: per-layer rates from the width; none: every group --lr",
    "lr_first_weight": "learning rate of the first layer's W (overrides the rule)",
    "lr_first_bias": "learning rate of the first layer's bias (overrides the rule)",
    "lr_hidden": "learning rate of hidden layers (overrides the rule)",
    "lr_output": "learning rate of the output layer (overrides the rule)",
    "lr_schedule": "plateau: warm-up, then decay when ||W_perp|| stops falling",
    "lr_warmup": "steps of linear warm-up",
    "lr_decay": "factor applied to the rates at each plateau",
    "lr_min_factor": "smallest factor; a plateau there ends --until plateau/sosp runs",
    "pgd_gate": "certificate: perturb at a detected saddle; batch: minibatch gradient rule",
    "pgd_threshold": "PGD perturbs when the gradient norm is below this",
    "pgd_radius": "radius of PGD's perturbation ball",
    "pgd_t_thres": "minimum steps between perturbations",
    "until": "stop at a certified SOSP, at a plateau, or after --steps",
    "steps": "training steps (the cap for --until sosp/plateau)",
    "time_limit": "seconds of training at most (for --until sosp/plateau)",
    "log_points": "metrics are logged at this many log-spaced steps",
    "checkpoint_every": "also write --checkpoint every N steps (it is always written at the end "
    "and on Ctrl-C)",
    "dtype": "training precision",
    "certificate": "the certificate checks during training and the SOSP certificate at the "
    "end (off: --until sosp stops as plateau, PGD perturbs by the minibatch rule)",
    "n_cert": "fixed sample size of the certificate (float64)",
    "k_probes": "random probes of the Hessian-Lipschitz estimate",
    "lanczos_steps": "Lanczos iterations of the checks during training",
    "sosp_fraction": "--until sosp stops once the bound is below this times the initial "
    "||W_perp||_F",
    "order_neurons": "neurons whose overlaps M, Q are logged",
}
DERIVED_DEFAULTS = {
    "steps": "20000, doubled while the run still improves and the time limit allows "
    "(--until sosp/plateau)",
    "teacher_seed": "a stream derived from --seed, independent of the initialisation",
    "lam": "0.5/width",
    "lr": "0.05 for pgd/sgd, 0.005 for adam",
    "n_train": "fresh samples every step",
    "pgd_threshold": "the gradient norm the bound needs (1e-3 with --pgd-gate batch)",
    "pgd_radius": "rho/lambda_max, as in Jin et al. (5e-3 with --pgd-gate batch)",
    "lr_first_weight": "the rule",
    "lr_first_bias": "the rule",
    "lr_hidden": "the rule",
    "lr_output": "the rule",
}
_SKIP = {"teacher_U", "seed", "device"}


def _argument(name: str, annotation: Any, default: Any) -> tuple[str, dict[str, Any]]:
    """The flag and ``add_argument`` keywords for one :class:`TrainConfig` field."""
    flag = "--" + name.replace("_", "-")
    shown = DERIVED_DEFAULTS.get(name, default if default is not None else "none")
    if isinstance(shown, tuple):
        shown = " ".join(shown) or "none (all trained)"
    kwargs: dict[str, Any] = {"help": f"{HELP[name]} (default: {shown})", "dest": name}
    inner = annotation
    if get_origin(annotation) in (typing.Union, types.UnionType):
        inner = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(inner) is typing.Literal:
        kwargs["choices"] = get_args(inner)
    elif inner is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif get_origin(inner) is tuple:
        kwargs["nargs"] = "*"
        kwargs["choices"] = LAYER_NAMES
    elif inner is int:
        kwargs["type"] = int
    elif inner is float:
        kwargs["type"] = float
    return flag, kwargs


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``nn`` command; one option per :class:`TrainConfig` field."""
    parser = subparsers.add_parser(
        "nn",
        help="teacher-student lab: first-layer structure discovery (Figure 3)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="named settings")
    parser.add_argument("--config", type=Path, metavar="FILE.toml", help="settings file")
    parser.add_argument(
        "--checkpoint", type=Path, metavar="PATH", help="checkpoint file (safe .npz format)"
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        help="continue from --checkpoint, which must exist (a missing one is an error)",
    )
    resume.add_argument(
        "--resume-if-exists",
        action="store_true",
        help="continue from --checkpoint when it exists, start afresh otherwise",
    )
    group = parser.add_argument_group("settings")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SKIP:
            continue
        flag, kwargs = _argument(f.name, hints[f.name], f.default)
        group.add_argument(flag, **kwargs)
    add_common_options(parser, threads_default=1)
    # --seed and --device may also come from a preset or a TOML file: no command-line default.
    for action in parser._actions:
        if action.dest in ("seed", "device"):
            action.default = argparse.SUPPRESS
            action.help = f"{action.help} (default: {'0' if action.dest == 'seed' else 'cpu'}, "
            action.help += "or the preset's or config file's)"
    parser.set_defaults(func=run, json=None, plot=None, quiet=False)
    for action in parser._actions:  # "(default: None)" says nothing: these are off unless given
        if action.dest in ("json", "plot", "quiet"):
            action.default = argparse.SUPPRESS


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML settings file; every failure is one line naming the file (and the line)."""
    if path.is_dir():
        raise InputError(f"config file {path} is a directory")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
    except OSError as exc:
        raise InputError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM, as the other readers allow
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None


def build_config(args: argparse.Namespace) -> TrainConfig:
    """Merge defaults < preset < TOML file < command-line options."""
    values: dict[str, Any] = {}
    preset = getattr(args, "preset", None)
    file_values: dict[str, Any] = {}
    config_path = getattr(args, "config", None)
    if config_path is not None:
        file_values = load_toml(config_path)
        from_file = file_values.pop("preset", None)
        if preset is None:
            preset = from_file
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    values.update(file_values)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    return TrainConfig.from_dict(values)


def check_output_path(path: Path | None, option: str) -> None:
    """Fail before training when ``path`` cannot be written as a regular file."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{option} {path} is a directory")
    if path.exists() and not path.is_file():
        raise InputError(f"{option} {path} is not a regular file")
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{option} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: {ancestor} is not writable")


_OPTIMIZER_METHODS = ("add_param_group", "state_dict", "load_state_dict", "zero_grad")


def skip_dynamo_import() -> bool:
    """Spare this process torch's lazy import of ``torch._dynamo`` (1.5-2 s of start-up).

    ``torch.optim.Optimizer`` wraps these methods so that a ``torch.compile`` trace skips
    them; the wrapper imports the compiler on its first call, whether anything is compiled
    or not. ``derand nn`` compiles nothing, so the wrappers are told the plain method is
    their answer (what the wrapper caches after that import; a later compile would trace
    these methods instead of skipping them). Does nothing when ``torch._dynamo`` is already
    imported or torch's wrappers look different; returns whether it applied.
    """
    import sys

    import torch

    if "torch._dynamo" in sys.modules:
        return False
    applied = False
    for name in _OPTIMIZER_METHODS:
        fn = getattr(getattr(torch.optim.Optimizer, name, None), "__wrapped__", None)
        if callable(fn) and getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn
            applied = True
    return applied


def run(args: argparse.Namespace) -> int:
    """Train, print a summary, write JSON and figures."""
    config = build_config(args)
    args.seed = config.seed
    checkpoint = getattr(args, "checkpoint", None)
    resume: bool | str = bool(getattr(args, "resume", False))
    if getattr(args, "resume_if_exists", False):
        resume = "if-exists"
    if resume and checkpoint is None:
        option = "--resume" if resume is True else "--resume-if-exists"
        raise InputError(f"{option} needs --checkpoint PATH")
    if resume is True and checkpoint is not None and not checkpoint.exists():
        raise InputError(
            f"--resume: checkpoint {checkpoint} not found, so there is nothing to resume "
            "(--resume-if-exists starts afresh when there is none)"
        )
    # --json is checked by derand.cli.common.check_outputs (it may be - or a stream)
    check_output_path(checkpoint, "--checkpoint")

    from derand.nn.training import train

    skip_dynamo_import()
    with progress(args, config.step_cap, "nn") as update:
        last = [0]

        def callback(step: int, total: int) -> None:
            if step - last[0] >= 100 or step == total:
                last[0] = step
                update(step, total)

        result = train(
            config,
            checkpoint=checkpoint,
            resume="if-exists" if resume == "if-exists" else bool(resume),
            callback=callback,
        )
    document = envelope("nn", args, config.to_dict(), result.summary())

    def figures() -> dict[str, object]:
        from derand.figures.nn import plot_nn

        return plot_nn(result)

    for path in save_outputs(args, document, figures):
        say(args, f"wrote {path}")
    print_summary(args, result)
    if result.interrupted:
        print(interrupt_message(result), file=sys.stderr)
    return 130 if result.interrupted else 0


def interrupt_message(result: Any) -> str:
    """One line after Ctrl-C: the step reached and whether (and where) a checkpoint was saved."""
    if result.checkpoint is not None:
        return (
            f"derand nn: interrupted at step {result.steps}; checkpoint saved to "
            f"{result.checkpoint} (continue with the same command and --resume)"
        )
    return (
        f"derand nn: interrupted at step {result.steps}; no checkpoint saved "
        "(give --checkpoint PATH to be able to resume)"
    )


STOP_WORDS = {
    "sosp": "a rho-SOSP whose Theorem 4.1 bound (with the estimated K) meets the target",
    "plateau": "||W_perp|| stopped falling at the smallest learning rate",
    "steps": "the requested number of steps",
    "max-steps": "the step cap, before a certified SOSP",
    "time-limit": "the time limit, before a certified SOSP",
    "interrupted": "interrupted (Ctrl-C)",
}


def print_summary(args: argparse.Namespace, r: Any) -> None:
    """A human summary on stdout."""
    config = r.config
    say(
        args,
        f"steps: {r.steps} in {r.seconds:.1f} s (logging {r.seconds_logging:.1f} s, checks "
        f"{r.seconds_checks:.1f} s; {r.step_kernel} step); stop: {r.stop_reason} "
        f"({STOP_WORDS[r.stop_reason]}); {r.n_perturbations} perturbations",
    )
    rates = r.rates
    factor = r.log[-1]["lr_factor"] if r.log else 1.0
    say(
        args,
        f"rates ({rates.rule}): first layer W {rates.first_weight:.3g}, b {rates.first_bias:.3g}"
        + (f", hidden {rates.hidden_weight:.3g}" if config.depth > 1 else "")
        + f", output {rates.output:.3g}"
        + (" (frozen)" if "output" in config.freeze else "")
        + f"; schedule factor at the end {factor:.3g}; lambda = {r.lam:.3g}"
        + (
            f" (penalty lambda*||W||^2; the authors' decay {config.lam:.3g} W)"
            if config.lam_convention == "authors" and config.lam is not None
            else ""
        ),
    )
    if not r.reproducible:
        say(
            args,
            "  note: the time limit ended this run, so its step count depends on the machine "
            "and its load; for a reproducible run give --steps (with --until steps or a larger "
            "--time-limit)",
        )
    if not config.certificate:
        say(
            args,
            "  note: --no-certificate: no checks during training (--until sosp stops as "
            "plateau does, PGD perturbs by the minibatch rule) and no certificate",
        )
    say(
        args,
        f"||W_perp||/||W||: {r.perp_ratio_initial:.3f} -> {r.perp_ratio_final:.4f}  "
        f"(||W_perp||_F {r.perp_norm_initial:.3g} -> {r.perp_norm_final:.3g}, "
        f"||W_par||_F {r.par_norm_initial:.3g} -> {r.par_norm_final:.3g})",
    )
    say(
        args,
        f"outcome: {r.outcome_message}; test loss {r.test_loss:.4g} vs "
        f"{r.baseline_loss:.4g} for the best constant predictor",
    )
    if r.span_fit is not None:
        fit = r.span_fit
        say(
            args,
            f"  best predictor on the span found (kernel ridge on the projected x): "
            f"{fit['found_explained']:.1%} explained (on the teacher's span: "
            f"{fit['teacher_explained']:.1%}); the student: {r.explained:.1%}",
        )
    if r.collapse_escapes:
        perturbed = sum(1 for e in r.collapse_escapes if e.get("perturbed"))
        say(
            args,
            f"  --until sosp reached a collapsed point {len(r.collapse_escapes)} time(s) and "
            f"kept training ({perturbed} PGD perturbation(s) of radius "
            f"{r.collapse_escapes[-1].get('radius', 0.0):.3g} to leave it"
            + (
                f"; lambda lowered to {r.lam:.3g}"
                if any("lam" in e for e in r.collapse_escapes)
                else ""
            )
            + ")",
        )
    angles = ", ".join(f"{a:.1f}" for a in r.principal_angles_deg)
    say(
        args,
        f"principal angles span(U) vs top-k of W: [{angles}] deg; "
        f"effective rank {r.effective_rank:.2f}; test loss {r.test_loss:.4g}",
    )
    if max(r.principal_angles_deg) > 10:
        say(
            args,
            "  note: W_perp -> 0 does not mean W spans all of span(U): "
            "large angles mean some teacher directions were not found",
        )
    outside = []
    if config.activation not in SMOOTH_ACTIVATIONS:
        outside.append(f"activation {config.activation} is not smooth")
    if config.input_dist != "gaussian":
        outside.append(f"x is {config.input_dist}, not Gaussian")
    if outside:
        say(args, "  outside Theorem 4.1 (" + "; ".join(outside) + "): measured, not guaranteed")
    c = r.certificate
    if c is not None:
        say(
            args,
            f"certificate on the first layer (W, b), {c.n_samples} fixed samples, float64: "
            f"rho = {c.grad_norm:.3g}, lambda_min = {c.lambda_min:.3g} (residual "
            f"{c.residual:.2g}), K ~ {c.K:.3g} (local estimate), lambda = {c.lam:.3g} "
            f"[{c.seconds:.1f} s]",
        )
        p = r.certificate_proven
        if r.certified and p is not None and p.bound is not None:
            say(
                args,
                f"  certified: true (proven K = {r.K_proven:.3g}): Theorem 4.1 ||W_perp||_F <= "
                f"{p.bound:.3g} (measured {r.perp_norm_final:.3g}, initially "
                f"{r.perp_norm_initial:.3g}); the risk is a sample",
            )
            if p.bound >= r.perp_norm_initial:
                say(args, f"  {r.certified_note}")
        else:
            say(args, f"  certified: false ({r.certified_note})")
        if c.bound is not None:
            say(
                args,
                f"  estimate with the local K ~ {c.K:.3g} (not a proof): ||W_perp||_F <~ "
                f"{c.bound:.3g} (measured {r.perp_norm_final:.3g})",
            )
        else:
            say(args, "  estimate with the local K: no bound (" + "; ".join(c.failures) + ")")
        if r.outcome == "collapsed" and (c.bound is not None or r.certified):
            say(
                args,
                "  at a collapsed point (W ~ 0): the bound holds, but it says the student "
                "learned nothing, not that it found span(U)",
            )
        if r.sosp_all is not None and r.sosp_all["n_params"] != c.n_params:
            a = r.sosp_all
            say(
                args,
                f"  over all {a['n_params']} trained parameters (the theorem's SOSP): rho = "
                f"{a['grad_norm']:.3g}, lambda_min = {a['lambda_min']:.3g}",
            )
    comp = r.compression
    say(
        args,
        f"rank-{comp.rank} first layer: params {comp.params_before} -> "
        f"{comp.params_after}, test loss {comp.test_loss_before:.4g} -> "
        f"{comp.test_loss_after:.4g}",
    )
