"""``derand nn``: train a student on a multiple-index teacher and watch W_⊥ vanish."""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from derand.cli.common import (
    HelpFormatter,
    add_common_options,
    envelope,
    progress,
    save_outputs,
    say,
)
from derand.errors import InputError
from derand.nn.presets import PRESETS
from derand.nn.students import ACTIVATIONS, INITS, LAYER_NAMES
from derand.nn.teachers import LINKS
from derand.nn.train import BACKENDS, LOSSES, OPTIMIZERS, TrainConfig, TrainResult, train

DESCRIPTION = """\
Train a student network on a teacher y = h(U x) + noise, x ~ N(0, I_d), and measure how the
first layer collapses onto span(U) (paper Theorem 4.1): ||W_perp||_F, principal angles,
effective rank, then the SOSP certificate and a rank-k compression of the first layer.

Settings come from, in increasing priority: defaults, --preset, --config FILE.toml (keys are
the option names with underscores), then options on the command line.

examples:
  derand nn --preset fig3 --plot results/nn
  derand nn --preset multi-index --json results/nn.json
  derand nn --d 50 --k 3 --link sum-tanh --width 512 --depth 2 --activation gelu --steps 5000
  derand nn --preset fig3 --checkpoint run.pt --checkpoint-every 1000   # Ctrl-C, then:
  derand nn --preset fig3 --checkpoint run.pt --resume
"""

CHOICES: dict[str, tuple[str, ...]] = {
    "link": LINKS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "backend": BACKENDS,
    "dtype": ("float32", "float64"),
}
HELP: dict[str, str] = {
    "d": "input dimension",
    "k": "number of teacher indices (dim of span(U))",
    "link": "teacher link h",
    "noise": "label noise standard deviation",
    "degree": "degree of the Hermite link",
    "teacher_seed": "seed of the random teacher subspace (default: --seed)",
    "width": "hidden width",
    "depth": "number of hidden layers",
    "activation": "activation (relu is a non-smooth ablation)",
    "iota": "temperature of relu-iota = softplus(iota x)/iota",
    "init": "initialisation: the authors' (mean-field) or PyTorch's",
    "output_bias": "give the output layer a bias",
    "freeze": f"layer groups not trained, among {', '.join(LAYER_NAMES)}",
    "loss": "training loss",
    "huber_delta": "delta of the Huber loss",
    "lam": "weight decay on the first layer's W",
    "lam_all_layers": "also decay the other trained weight matrices",
    "batch": "samples per step",
    "n_train": "fixed training set size (default: fresh samples every step)",
    "n_test": "test set size",
    "optimizer": "pgd (perturbed GD), sgd (no perturbations) or adam",
    "backend": "fused: hand-written backward pass (fast); autograd: PyTorch's",
    "lr": "learning rate",
    "lr_first_weight": "learning rate of the first layer's W (default --lr)",
    "lr_first_bias": "learning rate of the first layer's bias (default --lr)",
    "lr_hidden": "learning rate of hidden layers (default --lr)",
    "lr_output": "learning rate of the output layer (default --lr)",
    "pgd_threshold": "PGD perturbs when the gradient norm is below this",
    "pgd_radius": "radius of PGD's perturbation ball",
    "pgd_t_thres": "minimum steps between perturbations",
    "steps": "training steps",
    "log_points": "metrics are logged at this many log-spaced steps",
    "checkpoint_every": "write --checkpoint every N steps (0: only at the end and on Ctrl-C)",
    "dtype": "training precision",
    "certificate": "compute the SOSP certificate at the end",
    "n_cert": "fixed sample size for the certificate",
    "k_probes": "probes for the local Hessian-Lipschitz estimate",
}
_SKIP = {"teacher_U", "seed", "device"}


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
    parser.add_argument("--checkpoint", type=Path, metavar="PATH", help="checkpoint file")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    group = parser.add_argument_group("settings")
    for f in dataclasses.fields(TrainConfig):
        if f.name in _SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type)
        kwargs: dict[str, Any] = {"help": HELP[f.name], "dest": f.name}
        if f.name in CHOICES:
            kwargs["choices"] = CHOICES[f.name]
        elif kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("tuple"):
            kwargs["nargs"] = "*"
            kwargs["choices"] = LAYER_NAMES
        elif kind.startswith("int"):
            kwargs["type"] = int
        elif kind.startswith("float"):
            kwargs["type"] = float
        group.add_argument(flag, **kwargs)
    add_common_options(parser)
    # --seed and --device may also come from a preset or TOML file: no command-line default.
    parser.set_defaults(func=run, json=None, plot=None, quiet=False, seed=None, device=None)


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML settings file; syntax errors name the line."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"config file {path} not found") from None
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
        preset = file_values.pop("preset", preset) if preset is None else preset
        file_values.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    values.update(file_values)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names and v is not None})
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    """Train, print a summary, write JSON and figures."""
    config = build_config(args)
    args.seed = config.seed
    if getattr(args, "resume", False) and getattr(args, "checkpoint", None) is None:
        raise InputError("--resume needs --checkpoint PATH")
    with progress(args, config.steps, "nn") as callback:
        result = train(
            config,
            checkpoint=getattr(args, "checkpoint", None),
            resume=getattr(args, "resume", False),
            callback=callback,
        )
    document = envelope("nn", args, dataclasses.asdict(config), result.summary())
    from derand.figures.nn import plot_nn

    for path in save_outputs(args, document, lambda: plot_nn(result)):
        say(args, f"wrote {path}")
    print_summary(args, result)
    return 130 if result.interrupted else 0


def print_summary(args: argparse.Namespace, r: TrainResult) -> None:
    """A human summary on stdout."""
    status = " (interrupted: checkpoint saved)" if r.interrupted else ""
    say(args, f"steps: {r.steps} in {r.seconds:.1f} s{status}, {r.n_perturbations} perturbations")
    say(
        args,
        f"||W_perp||/||W||: {r.perp_ratio_initial:.3f} -> {r.perp_ratio_final:.4f}  "
        f"(||W_perp||_F = {r.perp_norm_final:.3g})",
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
    c = r.certificate
    if c is not None:
        bound = "n/a" if c["bound"] is None else f"{c['bound']:.3g}"
        say(
            args,
            f"certificate: grad norm {c['grad_norm']:.3g}, lambda_min {c['lambda_min']:.3g}, "
            f"K~{c['K_estimate']:.3g} (estimate), Theorem 4.1 bound {bound} "
            f"[{c['seconds']:.1f} s]",
        )
    comp = r.compression
    say(
        args,
        f"rank-{comp['rank']} first layer: params {comp['params_before']} -> "
        f"{comp['params_after']}, test loss {comp['test_loss_before']:.4g} -> "
        f"{comp['test_loss_after']:.4g}",
    )
