"""What the emulator raises: a step the emulated hardware or guest software cannot take now.

The message says which component refused and why, in the domain's words, e.g.
``VF: cannot issue DMA: bus mastering is off (Command register 0x0000)``.
"""

from __future__ import annotations

from migcheck.models.errors import MigcheckError


class StepRefused(MigcheckError):
    """An emulator operation was asked for in a state where it cannot happen."""


def refuse(reason: str | None) -> None:
    """Raise `StepRefused` when ``reason`` is set (the ``why_not_*`` methods return one)."""
    if reason is not None:
        raise StepRefused(reason)
