"""report.html in a real headless browser (Debian's chromium): it loads with no errors and no
fetches, and a screenshot shows the matrix and a sequence chart.

Chromium is required: the `chromium_browser` fixture installs Debian's package when it is
missing (tests/system_tools.py); where it cannot, these tests fail (they do not skip).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess

import pytest

from migcheck.report import build_report, write_report

WINDOW = (1400, 2200)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

# Injected before the page's Content-Security-Policy: records script errors, failed loads and
# policy violations (any attempt to fetch something), and where the matrix and first chart are.
RECORDER = """<script>
window.__problems = [];
window.addEventListener('error', function (e) {
  window.__problems.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || e.type));
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  window.__problems.push('blocked by the page policy: ' + e.violatedDirective + ' ' + e.blockedURI);
});
window.addEventListener('load', function () {
  var m = document.querySelector('table.matrix'), c = document.querySelector('svg.chart');
  var out = document.createElement('pre');
  out.id = 'browser-probe';
  out.textContent = JSON.stringify({problems: window.__problems,
    matrix: m ? m.getBoundingClientRect().bottom : null, chart: c ? c.getBoundingClientRect().top : null,
    charts: document.querySelectorAll('svg.chart').length});
  document.body.appendChild(out);
});
</script>"""


def chromium(exe: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, guest_assisted):
    out = tmp_path_factory.mktemp("report")
    report = build_report(guest_assisted, variants=["disable-first", "thread-order", "no-drain"],
                          command="migcheck report guest-assisted --variant disable-first "
                                  "--variant thread-order --variant no-drain --out report")
    write_report(report, str(out))
    return out


def probe(exe: str, tmp_path, page_text: str) -> tuple[dict, str]:
    page = tmp_path / "probe.html"
    page.write_text(page_text.replace("<head>", "<head>" + RECORDER, 1))
    done = chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="browser-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, "the page never finished loading:\n" + done.stderr[-2000:]
    return json.loads(html.unescape(found.group(1))), done.stderr


def test_the_page_loads_with_no_errors_and_fetches_nothing(chromium_browser, report_dir, tmp_path):
    seen, log = probe(chromium_browser, tmp_path, (report_dir / "report.html").read_text())
    assert seen["problems"] == []
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Refused to" in line]
    assert console == []
    assert seen["charts"] >= 2  # thread-order and no-drain each have counterexamples
    # Both the matrix and the top of the first chart are inside the screenshot's window.
    assert 0 < seen["matrix"] < WINDOW[1] and 0 < seen["chart"] < WINDOW[1] - 300


def test_the_probe_would_see_a_fetch(chromium_browser, report_dir, tmp_path):
    """The check above can fail: an image from the network is blocked and recorded."""
    text = (report_dir / "report.html").read_text()
    text = text.replace("</main>", '<img src="https://example.invalid/pixel.png" alt=""></main>')
    seen, _ = probe(chromium_browser, tmp_path, text)
    assert any("blocked by the page policy" in p and "img-src" in p for p in seen["problems"])


def test_a_screenshot_shows_the_matrix_and_a_chart(chromium_browser, report_dir, tmp_path):
    png = tmp_path / "report.png"
    done = chromium(chromium_browser, tmp_path, f"--screenshot={png}", (report_dir / "report.html").as_uri())
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == WINDOW
    assert len(data) > 60_000  # a page of tables, charts and text, not a blank image
    shutil.copy(png, report_dir / "screenshot.png")
