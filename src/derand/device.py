"""Choosing the torch device from the ``--device {cpu,cuda,auto}`` convention.

torch is imported only when a device is resolved, so that parsing ``--device`` costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derand.errors import InputError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """Return the torch device for ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.

    ``"auto"`` picks CUDA when available. Asking for CUDA on a machine without it raises
    :class:`~derand.errors.InputError` instead of failing later inside a kernel.

    Returns
    -------
    torch.device

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda was requested but CUDA is not available here")
        try:
            return torch.device(name)
        except RuntimeError:
            raise InputError(f"unknown device {name!r}") from None
    raise InputError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
