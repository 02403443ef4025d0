"""The paper's Figure 3 (neuron trajectories, d = 2) and the training record for any d (§4).

``plot_nn(result)`` draws, for any input dimension, ‖W_⊥‖_F against the certified bound, the
certificate's ρ and λ_min against what Theorem 4.1 needs, the principal angles, the losses,
and the order parameters (the per-neuron alignment histogram over time and R = MᵀM/width);
for d = 2 also Figure 3, with the λ = 0 control beside it when one is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from derand.figures.style import ACCENT, BASELINE, OURS, REFERENCE, new_figure

_COLOURS = [OURS, ACCENT, REFERENCE, BASELINE]


def _steps(rows: list[dict[str, Any]]) -> np.ndarray:
    steps: np.ndarray = np.maximum(np.array([row["step"] for row in rows], dtype=float), 1.0)
    return steps


def _style(ax: Any) -> None:
    ax.grid(True, which="major", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def plot_nn(result: Any, control: Any | None = None) -> dict[str, object]:
    """``{name: Figure}``: the training record, and Figure 3 when d = 2.

    Parameters
    ----------
    result : TrainResult
        The run to draw.
    control : TrainResult, optional
        The same run without weight decay (λ = 0), drawn beside Figure 3.

    Returns
    -------
    dict
        ``"nn_alignment"`` (six panels) and, for d = 2, ``"fig3_nn_trajectories"``.
    """
    figures: dict[str, object] = {"nn_alignment": _record(result)}
    if result.snapshots:
        figures["fig3_nn_trajectories"] = _figure3(result, control)
    return figures


def _record(result: Any) -> Figure:
    fig = Figure(figsize=(13, 10.5), layout="constrained")
    axes = fig.subplots(3, 2)
    for ax in axes.ravel():
        _style(ax)
    log = result.log
    x = _steps(log)
    checks = result.certificate_log
    cert = result.certificate

    # (a) ‖W_⊥‖_F against the bound.
    ax = axes[0, 0]
    ax.plot(
        x, [row["perp_norm"] for row in log], "-", color=OURS, label="measured $\\|W_\\perp\\|_F$"
    )
    bounded = [(row["step"], row["bound"]) for row in checks if row.get("bound") is not None]
    if bounded:
        bx, by = zip(*bounded, strict=True)
        ax.plot(np.maximum(bx, 1), by, "v", color=BASELINE, label="Theorem 4.1 bound (checks)")
    if cert is not None and cert.bound is not None:
        ax.plot(
            [max(result.steps, 1)],
            [cert.bound],
            "v",
            ms=10,
            color=BASELINE,
            mec="black",
            label="final certified bound",
        )
    ax.axhline(
        log[0]["perp_norm"], color=REFERENCE, ls=":", lw=1, label="initial $\\|W_\\perp\\|_F$"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("$\\|W_\\perp\\|_F$")
    title = "Weight outside span(U) and the certified bound"
    if cert is not None and cert.bound is None and cert.failures:
        title += "\n(final bound not given: " + cert.failures[0].split(":")[0] + ")"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)

    # (b) ρ against the ρ the bound needs; λ_min against -√(Kρ); the final certificate.
    _certificate_panel(axes[0, 1], result, checks, cert)

    # (c) principal angles.
    ax = axes[1, 0]
    angles = np.array([row["principal_angles_deg"] for row in log])
    for i in range(angles.shape[1]):
        ax.plot(x, angles[:, i], "-", color=_COLOURS[i % 4], label=f"angle {i + 1}")
    ax.set_xscale("log")
    ax.set_ylim(0, 92)
    ax.set_xlabel("training step")
    ax.set_ylabel("degrees")
    ax.set_title("span(U) vs top-k right singular subspace of W", fontsize=10)
    ax.legend(fontsize=8)

    # (d) losses and the learning-rate factor.
    ax = axes[1, 1]
    ax.plot(x, [row["test_loss"] for row in log], "-", color=OURS, label="test loss")
    train_x = [
        (s, row["train_loss"])
        for s, row in zip(x, log, strict=True)
        if row["train_loss"] is not None and math.isfinite(row["train_loss"])
    ]
    if train_x:
        tx, ty = zip(*train_x, strict=True)
        ax.plot(tx, ty, ".", ms=3, color=REFERENCE, label="minibatch loss")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_title("Losses (right: learning-rate factor)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    twin = ax.twinx()
    twin.plot(x, [row["lr_factor"] for row in log], "-", color=ACCENT, lw=1)
    twin.set_yscale("log")
    twin.set_ylabel("rate factor", color=ACCENT)

    # (e) per-neuron alignment histogram over time.
    ax = axes[2, 0]
    hist = np.array([row["cos_histogram"] for row in log], dtype=float).T
    shares = hist / np.maximum(hist.sum(axis=0, keepdims=True), 1.0)
    image = ax.imshow(
        np.maximum(shares, 1e-4),
        aspect="auto",
        origin="lower",
        extent=(0, len(log), 0, 1),
        cmap="viridis",
        norm=LogNorm(vmin=1e-4, vmax=1.0),
    )
    ticks = np.linspace(0, len(log) - 1, min(6, len(log))).astype(int)
    ax.set_xticks(ticks + 0.5, [str(log[i]["step"]) for i in ticks])
    ax.set_xlabel("training step (log points)")
    ax.set_ylabel("$|\\cos(w_i, \\mathrm{span}\\,U)|$")
    ax.set_title("Per-neuron alignment: share of neurons per bin", fontsize=10)
    fig.colorbar(image, ax=ax, label="share of neurons")

    # (f) order parameters R = MᵀM / width and q_⊥.
    ax = axes[2, 1]
    R = np.array([row["R"] for row in log])
    for i in range(R.shape[1]):
        ax.plot(x, R[:, i, i], "-", color=_COLOURS[i % 4], label=f"$R_{{{i + 1}{i + 1}}}$")
    ax.plot(x, [row["q_perp"] for row in log], "--", color=BASELINE, label="$q_\\perp$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_title(
        "Order parameters: $R = M^T M$/width, $q_\\perp = \\|W_\\perp\\|_F^2$/width", fontsize=10
    )
    ax.legend(fontsize=8)
    return fig


def _certificate_panel(ax: Any, result: Any, checks: list[dict[str, Any]], cert: Any) -> None:
    """The checks of Theorem 4.1's hypotheses: over training when checks ran, and always the
    final certificate (ρ, |λ_min| against √(Kρ), the bound against the measured ‖W_⊥‖_F)."""
    ax.set_xlabel("training step")
    ax.set_title("Certificate (Theorem 4.1's hypotheses)", fontsize=10)
    if checks:
        cx = _steps(checks)
        ax.plot(
            cx,
            [row["grad_norm"] for row in checks],
            "o-",
            ms=3,
            color=OURS,
            label="$\\rho = \\|\\nabla F\\|$ (checks, fixed sample)",
        )
        ax.plot(
            cx,
            [row["rho_target"] for row in checks],
            "--",
            color=REFERENCE,
            label="largest $\\rho$ with an informative bound",
        )
        with_lmin = [row for row in checks if row.get("lambda_min") is not None]
        if with_lmin:
            lx = _steps(with_lmin)
            ax.plot(
                lx,
                [abs(row["lambda_min"]) for row in with_lmin],
                "s",
                color=ACCENT,
                label="$|\\lambda_{min}|$ (checks)",
                mfc="none",
            )
            ax.plot(
                lx,
                [math.sqrt(row["K"] * row["grad_norm"]) for row in with_lmin],
                "x",
                color=BASELINE,
                label="$\\sqrt{K\\rho}$ (allowed negative curvature)",
            )
    if cert is None and not checks:
        ax.text(
            0.5,
            0.5,
            "no certificate: the run was made with --no-certificate",
            ha="center",
            transform=ax.transAxes,
        )
        return
    end = max(result.steps, 1)
    if cert is not None:
        ax.plot([end], [cert.grad_norm], "o", ms=9, color=OURS, mec="black", label="final $\\rho$")
        sign = "≥ 0" if cert.lambda_min >= 0 else "< 0"
        ax.plot(
            [end],
            [max(abs(cert.lambda_min), 1e-300)],
            "s",
            ms=9,
            color=ACCENT,
            mec="black",
            label=f"final $|\\lambda_{{min}}|$ ($\\lambda_{{min}}$ {sign})",
        )
        if cert.K is not None and cert.K > 0:
            ax.plot(
                [end],
                [math.sqrt(cert.K * cert.grad_norm)],
                "X",
                ms=9,
                color=BASELINE,
                mec="black",
                label="final $\\sqrt{K\\rho}$",
            )
        ax.plot(
            [end],
            [result.perp_norm_final],
            "D",
            ms=8,
            color=REFERENCE,
            mec="black",
            label="measured $\\|W_\\perp\\|_F$",
        )
        if cert.bound is not None:
            ax.plot(
                [end], [cert.bound], "v", ms=10, color=BASELINE, mec="black", label="final bound"
            )
            verdict = f"bound {cert.bound:.3g} ≥ measured {result.perp_norm_final:.3g}"
        else:
            reason = cert.failures[0].split(":")[0] if cert.failures else "hypotheses fail"
            verdict = f"no bound: {reason}"
        ax.text(
            0.02,
            0.02,
            f"final: ρ = {cert.grad_norm:.2g}, λ_min = {cert.lambda_min:.2g}, "
            f"K = {cert.K if cert.K is not None else float('nan'):.2g}\n{verdict}",
            fontsize=7,
            transform=ax.transAxes,
            va="bottom",
        )
    if result.lam > 0:
        ax.axhline(2 * result.lam, color=BASELINE, ls=":", lw=1, label="$2\\lambda$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=6, loc="upper right")


def _trajectories(ax: Any, result: Any, max_neurons: int) -> Any:
    """Scatter each shown neuron's weight vector over the snapshots; returns the mappable."""
    cmap = colormaps["coolwarm_r"]
    steps = np.maximum(np.array(result.snapshot_steps, dtype=float), 1.0)
    norm = LogNorm(vmin=steps.min(), vmax=max(steps.max(), steps.min() * 10))
    width = len(result.snapshots[0])
    shown = np.linspace(0, width - 1, min(width, max_neurons)).astype(int)
    snaps = np.asarray(result.snapshots)[:, shown]  # (snapshots, neurons, 2)
    points = snaps.reshape(-1, 2)
    colours = np.repeat(steps, len(shown))
    mappable = ax.scatter(
        points[:, 0], points[:, 1], s=2, c=colours, cmap=cmap, norm=norm, alpha=0.6, linewidths=0
    )
    ax.scatter(
        snaps[-1, :, 0],
        snaps[-1, :, 1],
        s=9,
        color="black",
        marker="o",
        linewidths=0,
        label=f"end (step {result.steps})",
        zorder=3,
    )
    ax.scatter(
        snaps[0, :, 0],
        snaps[0, :, 1],
        s=9,
        facecolors="none",
        edgecolors="black",
        linewidths=0.4,
        label="start",
        zorder=3,
    )
    u = np.asarray(result.teacher_U[0])
    lim = float(np.abs(snaps).max()) * 1.05
    ax.plot(
        [-lim * u[0], lim * u[0]],
        [-lim * u[1], lim * u[1]],
        "--",
        color="black",
        lw=1,
        label="span($\\theta$)",
    )
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.legend(loc="upper left", fontsize=8)
    return mappable, len(shown), width


def _figure3(result: Any, control: Any | None, max_neurons: int = 250) -> Figure:
    panels = 2 if control is not None and control.snapshots else 1
    fig, axes = new_figure(5.8 * panels + 0.8, 5.6, ncols=panels)
    axes = [axes] if panels == 1 else list(axes)
    mappable, shown, width = _trajectories(axes[0], result, max_neurons)
    axes[0].set_title(
        f"Fig. 3: λ = {result.lam:.0e}, {shown} of {width} neurons\n"
        "$\\|W_\\perp\\|/\\|W\\|$ "
        f"{result.perp_ratio_initial:.2f} → {result.perp_ratio_final:.3f}",
        fontsize=10,
    )
    if control is not None and panels == 2:
        _trajectories(axes[1], control, max_neurons)
        axes[1].set_title(
            "Control: λ = 0 (no weight decay)\n$\\|W_\\perp\\|/\\|W\\|$ "
            f"{control.perp_ratio_initial:.2f} → "
            f"{control.perp_ratio_final:.3f}",
            fontsize=10,
        )
    fig.colorbar(mappable, ax=axes, label="training step (log scale)", shrink=0.85)
    return fig
