"""Choosing the torch device from the ``--device {cpu,cuda,auto}`` convention."""

from __future__ import annotations

import torch

from derand.errors import InputError

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """Return the torch device for ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.

    ``"auto"`` picks CUDA when available. Asking for CUDA on a machine without it raises
    :class:`~derand.errors.InputError` instead of failing later inside a kernel.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda was requested but CUDA is not available here")
        return torch.device(name)
    raise InputError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
