"""The typed exception hierarchy every part of migcheck raises from.

Each error's message names the input that is wrong and says how to fix it; the CLI prints
it as one line and exits 2.
"""


class MigcheckError(Exception):
    """Base of every error migcheck reports to a user."""


class ModelDefinitionError(MigcheckError):
    """A model, variant or property cannot be loaded as written."""


class ModelNotFound(MigcheckError):
    """A model, variant, property or parameter name is unknown."""


class ParameterError(MigcheckError):
    """A parameter value is missing, malformed or outside its allowed range."""


class DomainViolation(MigcheckError):
    """An action computed a value outside its variable's domain while being explored."""


class TraceError(MigcheckError):
    """A trace file cannot be read or belongs to another model."""


class TraceMismatch(TraceError):
    """A trace's step is not a transition of the model, or a replay diverged from it."""


class SolverUnknown(MigcheckError):
    """A solver answered unknown."""


class UsageError(MigcheckError):
    """Options that name nothing or do not fit together (an unknown engine or backend, say)."""
