"""The viewer in a real headless browser (Debian's chromium): it renders every episode, shows the expected
one with its tokens, runs no injected markup, and logs nothing to the console.

Skipped with a reason when no chromium binary is found, so a machine without one still passes; CI
installs it (`.ci/install-chromium.sh`) and sets SDAR_REQUIRE_BROWSER=1, which turns the skip into a
failure. `$SDAR_CHROMIUM` names a binary explicitly.
"""

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from sdar.report.viewer import write_viewer
from tests.report.conftest import PAYLOAD, episodes_run

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--enable-logging=stderr", "--v=0")
CONSOLE = re.compile(r":CONSOLE[:(]")  # every console message of the page, errors and "Uncaught ..." included


def chromium_binary() -> str | None:
    names = (os.environ.get("SDAR_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome")
    found = next((path for path in map(shutil.which, filter(None, names)) if path), None)
    if found is None and os.environ.get("SDAR_REQUIRE_BROWSER") == "1":
        pytest.fail("SDAR_REQUIRE_BROWSER=1 but no chromium binary found (run .ci/install-chromium.sh)")
    return found


@pytest.fixture(scope="session")  # session, like tiny_run and listed before it: a skip comes before training
def chromium():
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set SDAR_CHROMIUM); CI installs it")
    return binary


def load(chromium, page, tmp_path) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, the page's console messages)."""
    profile = tmp_path / "profile"
    proc = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if CONSOLE.search(line)]


def title(dom: str) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", dom, re.DOTALL).group(1))


def test_harness_sees_console_errors(chromium, tmp_path):
    """The check below is only worth something if a broken page fails it."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><title>t</title><script>console.error('boom'); null.x;</script>")
    _, console = load(chromium, page, tmp_path)
    assert any("boom" in line for line in console) and any("Uncaught" in line for line in console)


def test_viewer_renders_the_expected_episode(chromium, tmp_path):
    page = write_viewer(episodes_run(tmp_path / "run"))
    dom, console = load(chromium, page, tmp_path)
    assert console == []
    assert title(dom) == "sdar-viewer-ok:4"
    assert dom.count('class="episode"') == 4 and len(re.findall(r'<details class="episode"[^>]* open', dom)) == 1
    assert re.search(r"step 2 · trajectory 1 · group 0 · heat · <span class=\"badge won\">won</span>", dom)
    # the first episode is open and rendered: its turn 1 shows all 7 tokens, each with gap and gate
    first = dom[dom.index('class="ep-body"'):dom.index('<details class="episode"', dom.index('class="ep-body"'))]
    assert first.count('class="tok"') == 14 and 'title="token &quot;look&quot;' in first
    # injected markup is text: no extra script or img element, the payload shows escaped
    assert len(re.findall(r"<script", dom, re.IGNORECASE)) == 2 and "<img" not in dom and "pwned" not in title(dom)


def test_filter_and_open_the_won_episode(chromium, tmp_path):
    """The outcome filter, then the won episode opened through the page's own handlers: its tokens
    coloured by the gap, the privileged text, and the payload as text."""
    page = write_viewer(episodes_run(tmp_path / "run"))
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.read_text().replace("</body>", """<script>
        var s = document.getElementById("filter-outcome"); s.value = "won"; s.dispatchEvent(new Event("change"));
        var d = document.querySelectorAll("details.episode")[3]; d.open = true; d.dispatchEvent(new Event("toggle"));
        </script></body>"""))
    dom, console = load(chromium, clicked, tmp_path)
    assert console == [] and title(dom).startswith("sdar-viewer-ok")
    assert "showing 1 of 4 episodes" in dom and len(re.findall(r'<details class="episode"[^>]* hidden', dom)) == 3
    body = dom[dom.rindex('class="ep-body"'):]
    assert "Skills: heat it in the microwave." in body and "privileged context the teacher saw" in body
    assert html.escape(PAYLOAD, quote=False) in body and body.count('class="tok"') == 7 + 2
    assert "rgba(215, 40, 40" in body and "rgba(20, 150, 60" in body  # gap −1: red, gap +2: green


def test_viewer_of_a_real_tiny_run(chromium, tiny_run, tmp_path):
    page = write_viewer(tiny_run, tmp_path / "viewer.html")
    dom, console = load(chromium, page, tmp_path)
    records = [json.loads(line) for line in (tiny_run / "samples.jsonl").read_text().splitlines()]
    n = len({(r["step"], r["trajectory"]) for r in records})
    assert console == [] and title(dom) == f"sdar-viewer-ok:{n}" and n > 0
