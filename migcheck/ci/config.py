"""Reading what CI checks: ``[tool.migcheck]`` in pyproject.toml, or a migcheck.toml.

    [[tool.migcheck.check]]              # in migcheck.toml: [[check]]
    model = "two-phase-commit"           # a bundled model, or a .py file (relative to this file)
    variants = ["base", "commit-without-votes"]   # default: every variant
    properties = ["consistency"]         # default: every property
    set = { rms = 3 }                    # parameters; default: the model's defaults
    engine = "explicit"                  # explicit | bmc | kind | pdr | all
    expect = { commit-without-votes = { consistency = "violated" } }
                                         # overrides the model's own expected verdicts

Optional limits: ``max-states``, ``timeout`` (seconds), ``depth`` (bmc and kind), and a
``name`` for the check. Every mistake is a `ConfigError` naming the file, the check, the
key and what is allowed, in one line.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from migcheck.models.errors import MigcheckError
from migcheck.models.library import BUNDLED, load_file
from migcheck.models.library import bundled as bundled_model
from migcheck.models.model import VERDICTS_EXPECTABLE, Model, build

from ..runner import DEPTH_ENGINES, ENGINES, depth_of, property_names

KEYS = ("name", "model", "variants", "properties", "set", "engine", "expect", "max-states", "timeout",
        "depth")


class ConfigError(MigcheckError):
    """The CI configuration cannot be used as written."""


@dataclass(frozen=True)
class CheckSpec:
    """One ``[[check]]``: a model at one set of parameters, what to check and what to expect."""

    number: int  # 1 for the first check in the file
    name: str
    model_spec: str  # as written in the file
    model: type[Model]
    source: str  # the model's file
    variants: tuple[str, ...]  # the variants checked, in the model's order
    properties: tuple[str, ...] | None  # None: every property
    params: tuple[tuple[str, int], ...]  # as the configuration sets them: a variant keeps its own defaults
    engine: str
    expect: tuple[tuple[str, str, str], ...]  # (variant, property, verdict) overrides
    max_states: int | None = None
    timeout: float | None = None
    depth: int | None = None
    line: int | None = None  # where the check's table starts, when known

    def expected(self, variant: str, prop: str) -> str | None:
        for v, p, verdict in self.expect:
            if v == variant and p == prop:
                return verdict
        return None


@dataclass(frozen=True)
class Config:
    path: str
    root: str  # the folder of the configuration file: model paths and SARIF URIs are relative to it
    table: str  # "tool.migcheck" in a pyproject.toml, "" in a migcheck.toml
    checks: tuple[CheckSpec, ...]

    @property
    def where(self) -> str:
        return f"[{self.table}]" if self.table else os.path.basename(self.path)


def find_config(path: str | None = None, folder: str = ".") -> tuple[str, str]:
    """(file, table) to read: ``path`` if given, else ``folder``/pyproject.toml when it has a
    [tool.migcheck] table, else ``folder``/migcheck.toml."""
    if path:
        path = os.path.normpath(path)
        if not os.path.isfile(path):
            raise ConfigError(f"{path}: no such configuration file")
        return path, "tool.migcheck" if os.path.basename(path) == "pyproject.toml" else ""
    pyproject = os.path.normpath(os.path.join(folder, "pyproject.toml"))
    if os.path.isfile(pyproject) and "migcheck" in _read(pyproject).get("tool", {}):
        return pyproject, "tool.migcheck"
    own = os.path.normpath(os.path.join(folder, "migcheck.toml"))
    if os.path.isfile(own):
        return own, ""
    raise ConfigError(f"no configuration in {os.path.abspath(folder)}: add [tool.migcheck] to "
                      "pyproject.toml or write a migcheck.toml (or give --config FILE)")


def load_config(path: str | None = None, folder: str = ".") -> Config:
    """Read and check the configuration; every model, variant, property and parameter is
    resolved here, so a mistake is reported before any search starts."""
    file, table = find_config(path, folder)
    data = _read(file)
    if table:
        data = data.get("tool", {}).get("migcheck")
        if data is None:
            raise ConfigError(f"{file}: no [tool.migcheck] table; add one with [[tool.migcheck.check]] "
                              "entries, or give a migcheck.toml")
    prefix = f"{table}." if table else ""
    _no_unknown_keys(data, ("check",), f"{file}: [{table}]:" if table else f"{file}:")
    checks = data.get("check")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, dict) for c in checks):
        raise ConfigError(f"{file}: '{prefix}check' must be an array of tables with at least one "
                          f"check: write [[{prefix}check]] followed by model = \"...\"")
    lines = _check_lines(file, prefix)
    root = os.path.dirname(os.path.abspath(file))
    specs = tuple(_check(file, root, n, raw, lines.get(n), prefix) for n, raw in enumerate(checks, start=1))
    return Config(file, root, table, specs)


def _read(file: str) -> dict[str, Any]:
    try:
        with open(file, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{file}: not a configuration: values nested too deeply") from None


def _check_lines(file: str, prefix: str) -> dict[int, int]:
    """The line of each ``[[...check]]`` header (1-based), by check number."""
    header = re.compile(r"^\s*\[\[\s*" + re.escape(prefix + "check").replace(r"\.", r"\s*\.\s*") + r"\s*\]\]")
    with open(file, encoding="utf-8", errors="replace") as f:
        found = [n for n, line in enumerate(f, start=1) if header.match(line)]
    return {k: line for k, line in enumerate(found, start=1)}


def _no_unknown_keys(table: Any, allowed: tuple[str, ...], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where} unknown key '{key}' (allowed: {', '.join(allowed)})")


def _check(file: str, root: str, n: int, raw: dict[str, Any], line: int | None, prefix: str) -> CheckSpec:
    at = f"{file}:{line}" if line else file
    where = f"{at}: [[{prefix}check]] #{n}"
    _no_unknown_keys(raw, KEYS, f"{where}:")

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}, key '{key}': {problem}")

    spec = raw.get("model")
    if not isinstance(spec, str) or not spec:
        raise bad("model", "required: a bundled model's name "
                  f"({', '.join(BUNDLED)}) or the path of a .py file defining one")
    model, source = _model(spec, root, lambda problem: bad("model", problem))
    where = f"{where} (model '{model.name}')"
    all_variants = model.variants()

    variants = _strings(raw, "variants", bad)
    for v in variants or ():
        if v not in all_variants:
            raise bad("variants", f"unknown variant '{v}' (variants: {', '.join(all_variants)})")
    chosen = tuple(v for v in all_variants if variants is None or v in variants)

    params = raw.get("set", {})
    if not isinstance(params, dict):
        raise bad("set", "must be a table of parameters, for example set = { pages = 2 }")
    declared = model.parameters()
    for k, value in params.items():
        if k not in declared:
            raise bad(f"set.{k}", f"unknown parameter (parameters: {', '.join(declared) or 'none'})")
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"set.{k}", f"must be an integer, not {_type(value)}; allowed "
                      f"{declared[k].describe_allowed()}")
        try:
            declared[k].validate(value, k)
        except MigcheckError as exc:
            raise bad(f"set.{k}", str(exc)) from None
    try:
        systems = [build(all_variants[v], params) for v in chosen]
    except MigcheckError as exc:
        raise bad("set", str(exc)) from None
    known = {s.variant: property_names(s) for s in systems}
    every = list(dict.fromkeys(p for names in known.values() for p in names))

    props = _strings(raw, "properties", bad)
    for p in props or ():
        if p not in every:
            raise bad("properties", f"unknown property '{p}' (properties: {', '.join(every)})")

    engine = raw.get("engine", "explicit")
    if engine not in ENGINES:
        raise bad("engine", f"{engine!r} is not an engine (engines: {', '.join(ENGINES)})")

    expect = _expect(raw.get("expect", {}), chosen, all_variants, known, props, bad)
    max_states = _number(raw, "max-states", int, bad)
    timeout = _number(raw, "timeout", float, bad)
    depth = _number(raw, "depth", int, bad, zero_ok=True)
    if depth is not None and engine not in DEPTH_ENGINES:
        raise bad("depth", depth_of(engine))
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise bad("name", f"must be a string, not {_type(name)}")
    label = name or model.name + "".join(f" {k}={v}" for k, v in sorted(params.items()))
    return CheckSpec(n, label, spec, model, source, chosen, tuple(props) if props is not None else None,
                     tuple(sorted(params.items())), engine, expect, max_states, timeout, depth, line)


def _model(spec: str, root: str, bad: Any) -> tuple[type[Model], str]:
    import inspect

    if spec in BUNDLED:
        model = bundled_model(spec)
    else:
        path, _, wanted = spec.rpartition(":") if ".py:" in spec else (spec, "", "")
        if not path.endswith(".py"):
            raise bad(f"unknown model '{spec}' (bundled models: {', '.join(BUNDLED)}; or the path of a "
                      ".py file, relative to the configuration file)")
        full = path if os.path.isabs(path) else os.path.join(root, path)
        try:
            model = load_file(full, wanted or None)
        except MigcheckError as exc:
            raise bad(str(exc)) from None
    return model, inspect.getsourcefile(model) or ""


def _strings(raw: dict[str, Any], key: str, bad: Any) -> list[str] | None:
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, list) or not value:
        raise bad(key, f"must be a non-empty list of names, for example {key} = [\"...\"]; "
                  f"got {_type(value)}")
    for n, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise bad(key, f"must be a list of names (strings); item {n} is {_type(item)}")
    return value


def _expect(raw: Any, chosen: tuple[str, ...], all_variants: dict[str, Any], known: dict[str, list[str]],
            props: list[str] | None, bad: Any) -> tuple[tuple[str, str, str], ...]:
    example = "expect = { thread-order = { completeness = \"violated\" } }"
    if not isinstance(raw, dict):
        raise bad("expect", f"must be a table of variants, for example {example}")
    out = []
    for variant, table in raw.items():
        if variant not in chosen:
            what = "unknown variant" if variant not in all_variants else "a variant this check does not check"
            raise bad(f"expect.{variant}", f"{what} (variants checked: {', '.join(chosen)})")
        if not isinstance(table, dict):
            raise bad(f"expect.{variant}", f"must be a table of properties, for example {example}")
        for prop, verdict in table.items():
            checked = [p for p in known[variant] if props is None or p in props]
            if prop not in checked:
                raise bad(f"expect.{variant}.{prop}",
                          f"not a property checked in variant '{variant}' (checked: {', '.join(checked)})")
            if verdict not in VERDICTS_EXPECTABLE:
                raise bad(f"expect.{variant}.{prop}", f"{verdict!r} is not a verdict one can expect "
                          f"(allowed: {', '.join(VERDICTS_EXPECTABLE)})")
            out.append((variant, prop, verdict))
    return tuple(out)


def _number(raw: dict[str, Any], key: str, kind: type, bad: Any, zero_ok: bool = False) -> Any:
    if key not in raw:
        return None
    value = raw[key]
    ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < 0 or (value == 0 and not zero_ok):
        what = "an integer" if kind is int else "a number of seconds"
        raise bad(key, f"must be {what}, {'0 or more' if zero_ok else 'more than 0'}; got {value!r}")
    return kind(value)


def _type(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)
