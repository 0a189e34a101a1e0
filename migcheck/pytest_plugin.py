"""pytest plugin: ``pytest --migcheck`` checks the migcheck CI configuration as test items.

The configuration is the one ``migcheck ci`` reads (``--migcheck-config FILE``, default: the
rootdir's pyproject.toml with [tool.migcheck], else its migcheck.toml). Each check becomes a
collector and each variant × property a test item that passes when the verdict is the one
expected; a variant is explored once, by its first item, for all its properties. A failed
item's node id runs it again (``pytest --migcheck 'pyproject.toml::guest-assisted::
thread-order::completeness'``); under pytest-xdist a variant's items stay on one worker.

Without ``--migcheck`` the plugin only declares its options: every hook returns at once and
nothing of migcheck is imported, so it neither slows down nor changes a test run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_RUNS: pytest.StashKey[dict[tuple[int, str], Any]] = pytest.StashKey()
_CONFIG: pytest.StashKey[Any] = pytest.StashKey()


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
        config.stash[_RUNS] = {}
        # Under pytest-xdist, a variant's items go to one worker, which explores it once:
        # --dist loadscope sends the items of one parent (a variant) to one worker.
        if getattr(config.option, "dist", "no") == "load":
            config.option.dist = "loadscope"


def _config(config: pytest.Config) -> Any:
    """The migcheck configuration, read once; a mistake in it is a usage error."""
    from migcheck.ci import load_config
    from migcheck.models.errors import MigcheckError

    if _CONFIG not in config.stash:
        try:
            config.stash[_CONFIG] = load_config(config.getoption("migcheck_config"),
                                                folder=str(config.rootpath))
        except MigcheckError as exc:
            raise pytest.UsageError(f"migcheck: {exc}") from None
    return config.stash[_CONFIG]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """The configuration file named on the command line (a failed item's node id, such as
    ``pyproject.toml::guest-assisted::thread-order/completeness``) is collected as its checks."""
    config = parent.config
    if not config.getoption("migcheck", False) or file_path.suffix != ".toml":
        return None
    cfg = _config(config)
    if file_path.resolve() != Path(cfg.path).resolve():
        return None
    return MigcheckFile.from_parent(parent, path=file_path, cfg=cfg)


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Without the configuration among the paths collected, its checks join the run anyway."""
    if not config.getoption("migcheck", False) or any(isinstance(i, MigcheckItem) for i in items):
        return
    cfg = _config(config)
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
    """One check: a model at one set of parameters; its children are its variants."""

    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Collector]:
        return [MigcheckVariant.from_parent(self, name=v, spec=self.spec) for v in self.spec.variants]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.spec.line or 1) - 1, f"migcheck check #{self.spec.number}"


class MigcheckVariant(pytest.Collector):
    """One variant of a check, explored once for all its items: one per property. Being the
    items' parent, it is their scope for pytest-xdist's --dist loadscope."""

    def __init__(self, *, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> list[pytest.Item]:
        from migcheck.models.model import build
        from migcheck.runner import property_names

        names = property_names(build(self.spec.model.variants()[self.name], dict(self.spec.params)))
        out: list[pytest.Item] = []
        for prop in names:
            if self.spec.properties is None or prop in self.spec.properties:
                item = MigcheckItem.from_parent(self, name=prop, spec=self.spec, variant=self.name, prop=prop)
                item.add_marker("migcheck")
                out.append(item)
        return out

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.spec.line or 1) - 1, f"migcheck: {self.spec.name}: {self.name}"


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
