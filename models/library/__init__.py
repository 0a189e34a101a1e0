"""The bundled model library, by name, and loading a model from a user's Python file."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from migcheck.models.errors import ModelDefinitionError, ModelNotFound
from migcheck.models.model import Model

from .isolation import run_import

# name -> (module, class); imported only when asked for.
BUNDLED: dict[str, tuple[str, str]] = {
    "guest-assisted": ("migcheck.models.library.guest_assisted", "GuestAssisted"),
    "two-phase-commit": ("migcheck.models.library.two_phase_commit", "TwoPhaseCommit"),
    "peterson": ("migcheck.models.library.peterson", "Peterson"),
    "dining-philosophers": ("migcheck.models.library.dining_philosophers", "DiningPhilosophers"),
    "spinlock": ("migcheck.models.library.spinlock", "SpinLock"),
    "vfio-v2": ("migcheck.models.library.vfio_v2", "VfioV2"),
    "failover": ("migcheck.models.library.failover", "Failover"),
}
DEFAULT_MODEL = "guest-assisted"


def bundled(name: str) -> type[Model]:
    module, cls = BUNDLED[name]
    return getattr(importlib.import_module(module), cls)


def resolve(spec: str) -> type[Model]:
    """A bundled model's name, or ``path/to/file.py`` (or ``file.py:model-name``) defining one."""
    if spec in BUNDLED:
        return bundled(spec)
    path, wanted = spec.rsplit(":", 1) if ".py:" in spec else (spec, "")
    if not path.endswith(".py"):
        raise ModelNotFound(f"unknown model '{spec}'; bundled models: {', '.join(BUNDLED)} "
                            "(or give the path of a .py file that defines a model)")
    return load_file(path, wanted or None)


def load_file(path: str, wanted: str | None = None) -> type[Model]:
    """Import a model file and return its model (the one named ``wanted`` if it has several)."""
    file = Path(path)
    if not file.is_file():
        raise ModelNotFound(f"model file '{path}' does not exist")
    mod_name = f"migcheck_user_model_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise ModelNotFound(f"model file '{path}' cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        run_import(lambda: spec.loader.exec_module(module), path, lambda exc: _line_in(exc, str(file)))
    except ModelDefinitionError:
        del sys.modules[mod_name]
        raise
    roots = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Model) and v.__module__ == mod_name
             and "name" in vars(v) and v.name]
    if not roots:
        raise ModelNotFound(f"model file '{path}' defines no model: subclass migcheck.models.Model "
                            "and give the class a name = '...'")
    if wanted is not None:
        for r in roots:
            if r.name == wanted:
                return r
        raise ModelNotFound(f"model file '{path}' has no model '{wanted}' "
                            f"(it has: {', '.join(r.name for r in roots)})")
    if len(roots) > 1:
        raise ModelNotFound(f"model file '{path}' defines several models "
                            f"({', '.join(r.name for r in roots)}); choose one with {path}:NAME")
    return roots[0]


def _line_in(exc: BaseException, filename: str) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(filename):
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    return f" (line {line})" if line else ""
