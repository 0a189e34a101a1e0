"""The property language: invariants, action properties and reachability witnesses.

>>> from migcheck.properties import invariant, action_property, reachable
"""

from .declarations import action_property, eventually, invariant, leads_to, reachable

__all__ = ["action_property", "eventually", "invariant", "leads_to", "reachable"]
