"""The modelling language: declare a protocol once as a Python class, trace it into IR.

>>> from migcheck.models import Model, Index, Bool, Int, Enum, Array, action, require
"""

from .domains import Array, Bool, Enum, Index, Int, Param, Ref
from .errors import (
                     DomainViolation,
                     MigcheckError,
                     ModelDefinitionError,
                     ModelNotFound,
                     ParameterError,
                     SolverUnknown,
                     TraceError,
                     TraceMismatch,
)
from .expr import all_, any_, count, implies, ite
from .ir import ActionIR, Layout, PropertyIR, System
from .model import Model, action, build, final, variant
from .tracing import require

__all__ = [
                     "ActionIR",
                     "Array",
                     "Bool",
                     "DomainViolation",
                     "Enum",
                     "Index",
                     "Int",
                     "Layout",
                     "MigcheckError",
                     "Model",
                     "ModelDefinitionError",
                     "ModelNotFound",
                     "Param",
                     "ParameterError",
                     "PropertyIR",
                     "Ref",
                     "SolverUnknown",
                     "System",
                     "TraceError",
                     "TraceMismatch",
                     "action",
                     "all_",
                     "any_",
                     "build",
                     "count",
                     "final",
                     "implies",
                     "ite",
                     "require",
                     "variant",
]
