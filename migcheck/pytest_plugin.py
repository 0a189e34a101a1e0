"""pytest plugin: ``pytest --migcheck`` checks the migcheck CI configuration as test items.

The configuration is the one ``migcheck ci`` reads (``--migcheck-config FILE``, default: the
rootdir's pyproject.toml with [tool.migcheck], else its migcheck.toml). Each check becomes a
collector and each variant × property a test item that passes when the verdict is the one
expected; a variant is explored once, by its first item, for all its properties.

Without ``--migcheck`` the plugin only declares its options: every hook returns at once and
nothing of migcheck is imported, so it neither slows down nor changes a test run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_RUNS: pytest.StashKey[dict[tuple[int, str], Any]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("migcheck", "migcheck property checking")
    group.addoption("--migcheck", action="store_true", default=False,
                    help="check the migcheck configuration ([tool.migcheck] or migcheck.toml) as test "
                         "items, one per variant × property")
    group.addoption("--migcheck-config", metavar="FILE", default=None,
                    help="the configuration file (default: <rootdir>/pyproject.toml with [tool.migcheck], "
                         "else <rootdir>/migcheck.toml)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("migcheck", False):
        config.addinivalue_line("markers", "migcheck: a variant × property of the migcheck configuration")


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if not config.getoption("migcheck", False):
        return
    from migcheck.ci import load_config
    from migcheck.models.errors import MigcheckError

    try:
        cfg = load_config(config.getoption("migcheck_config"), folder=str(config.rootpath))
    except MigcheckError as exc:
        raise pytest.UsageError(f"migcheck: {exc}") from None
    config.stash[_RUNS] = {}
    node = MigcheckFile.from_parent(session, path=Path(cfg.path).resolve(), cfg=cfg)
    items.extend(session.genitems(node))


class MigcheckFile(pytest.File):
    """The configuration file; its children are the checks it lists."""

    def __init__(self, *, cfg: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg

    def collect(self) -> list[pytest.Collector]:
        names = [spec.name for spec in self.cfg.checks]
        return [MigcheckCheck.from_parent(self, spec=spec,
                                          name=spec.name if names.count(spec.name) == 1
                                          else f"{spec.name} #{spec.number}")
                for spec in self.cfg.checks]


class MigcheckCheck(pytest.Collector):
    """One check: a model at one set of parameters; items are its variants × properties."""

    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Item]:
        from migcheck.models.model import build
        from migcheck.runner import property_names

        out: list[pytest.Item] = []
        variants = self.spec.model.variants()
        for v in self.spec.variants:
            names = property_names(build(variants[v], dict(self.spec.params)))
            for prop in names:
                if self.spec.properties is None or prop in self.spec.properties:
                    item = MigcheckItem.from_parent(self, name=f"{v}/{prop}", spec=self.spec, variant=v,
                                                    prop=prop)
                    item.add_marker("migcheck")
                    out.append(item)
        return out

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.spec.line or 1) - 1, f"migcheck check #{self.spec.number}"


class UnexpectedVerdict(Exception):
    """A verdict other than the one the configuration expects."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.verdict.property)
        self.result = result


class MigcheckItem(pytest.Item):
    def __init__(self, *, spec: Any, variant: str, prop: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.variant = variant
        self.prop = prop

    def runtest(self) -> None:
        from migcheck.ci import run_check
        from migcheck.models.errors import MigcheckError

        cache = self.config.stash[_RUNS]
        key = (self.spec.number, self.variant)
        if key not in cache:
            try:
                cache[key] = run_check(self.spec, [self.variant])
            except MigcheckError as exc:
                cache[key] = exc
        run = cache[key]
        if isinstance(run, Exception):
            raise run
        result = next((r for r in run.results if r.verdict.property == self.prop), None)
        if result is None:
            raise AssertionError(f"migcheck gave no verdict for {self.variant} {self.prop}")
        if not result.as_expected:
            raise UnexpectedVerdict(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, UnexpectedVerdict):
            from migcheck.ci.junit import verdict_details

            return verdict_details(excinfo.value.result)
        from migcheck.models.errors import MigcheckError

        if isinstance(excinfo.value, MigcheckError):
            return f"migcheck: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.spec.line or 1) - 1, f"migcheck: {self.spec.name}: {self.variant} {self.prop}"
