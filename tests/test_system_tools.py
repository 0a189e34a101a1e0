"""The tests obtain the programs they need: a missing one is installed with apt-get, not skipped."""

from __future__ import annotations

import os
import stat

import pytest
import system_tools
from system_tools import ToolUnavailable, debian_tool


def fake_apt(folder, installs: str | None) -> None:
    """An apt-get that logs its arguments and, on `install`, puts `installs` on PATH."""
    script = folder / "apt-get"
    body = f'echo "$@" >> "{folder}/apt.log"\n'
    if installs:
        body += (f'if [ "$1" = install ]; then printf "#!/bin/sh\\n" > "{folder}/{installs}"; '
                 f'/bin/chmod +x "{folder}/{installs}"; fi\n')
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(system_tools, "LOCK", tmp_path / "apt.lock")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    return tmp_path


def test_a_missing_program_is_installed_from_its_debian_package(bare_path):
    fake_apt(bare_path, installs="dot")
    assert debian_tool("dot", "graphviz") == str(bare_path / "dot")
    assert (bare_path / "apt.log").read_text().splitlines() == ["update", "install -y graphviz"]
    debian_tool("dot", "graphviz")  # now present: apt-get is not asked again
    assert len((bare_path / "apt.log").read_text().splitlines()) == 2


def test_an_install_that_does_not_give_the_program_is_an_error(bare_path):
    fake_apt(bare_path, installs=None)
    with pytest.raises(ToolUnavailable, match="installed chromium but 'chromium' is not on PATH"):
        debian_tool("chromium", "chromium")


def test_without_apt_get_the_error_says_what_to_install(bare_path):
    with pytest.raises(ToolUnavailable, match=r"apt-get update && apt-get install -y graphviz"):
        debian_tool("dot", "graphviz")


def test_without_root_apt_get_is_not_tried(bare_path, monkeypatch):
    fake_apt(bare_path, installs="dot")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ToolUnavailable, match="install it as root"):
        debian_tool("dot", "graphviz")
    assert not (bare_path / "apt.log").exists()
