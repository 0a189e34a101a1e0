"""The property language: invariants, action properties and reachability witnesses.

>>> from migcheck.properties import invariant, action_property, reachable
"""

from .declarations import action_property, invariant, reachable

__all__ = ["action_property", "invariant", "reachable"]
