"""The README's own command, ``make course``, as a learner or host runs it.

Starts ``make course`` (the Makefile target, not a separate launch of JupyterLab) with
``CODI_PORT`` set to a free port and ``CODI_LAB_ARGS=--no-browser`` (the two variables
the Makefile documents), waits for the address with its token in the output, loads the
lab page over HTTP and then in the real browser (notebook 00 open), and stops the server.

As root (containers, cloud notebooks; this repository's CI) the target must add
``--allow-root``, and only then: JupyterLab otherwise refuses to start as root.

Skipped when ``make`` is missing, or when ``.venv`` was not set up by scripts/setup.sh
for this checkout (``make course`` would then install the whole environment first: run
``make setup``). The browser part skips where Chromium or Playwright is missing.
No paper equation: this is course tooling.
"""
from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from lab_launch import running_make, setup_is_current

CHROMIUM = Path(os.environ.get("CODI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TITLE = "Welcome"  # in the first cell of notebooks/00_welcome.ipynb
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


if shutil.which("make") is None:
    pytest.skip("`make` is not installed", allow_module_level=True)
if not setup_is_current():
    pytest.skip(".venv is not set up for this checkout (run `make setup` first; `make test` "
                "does)", allow_module_level=True)


@pytest.fixture(scope="module")
def make_course(tmp_path_factory):
    """``make course`` running in the repository; yields (url with token, output lines)."""
    with running_make("course", tmp_path_factory.mktemp("make-course")) as started:
        yield started


def test_make_course_serves_the_lab(make_course):
    url, lines = make_course
    out = "".join(lines)
    command = next((ln for ln in lines if "jupyter lab" in ln), "")
    assert "notebooks/00_welcome.ipynb" in command, out[-3000:]
    assert ("--allow-root" in command) == IS_ROOT, (
        f"--allow-root must be passed exactly when the user is root (root: {IS_ROOT}): {command}")
    assert "Running as root is not recommended" not in out
    assert "?token=" in url
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200
        page = r.read().decode()
    assert "jupyter-config-data" in page  # the JupyterLab application page
    base, token = url.split("/lab?token=")
    # JupyterLab serves the folder of the file it was given: notebooks/
    api = f"{base}/api/contents/00_welcome.ipynb?content=0&token={token}"
    with urllib.request.urlopen(api, timeout=30) as r:
        assert r.status == 200


def test_make_course_opens_notebook_00_in_the_browser(make_course, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    url, lines = make_course
    base = url.split("/lab?token=")[0]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            # the address as printed (the token logs the browser in), then notebook 00,
            # the file that `make course` opens
            page.goto(url)
            page.wait_for_selector(".jp-LabShell", timeout=120_000)
            page.goto(f"{base}/lab/tree/00_welcome.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=120_000)
            page.wait_for_selector("#jp-main-dock-panel .lm-TabBar-tabLabel:has-text('00_welcome')",
                                   timeout=30_000)
            # the first cell, rendered (its heading holds the title)
            page.wait_for_selector(f".jp-Notebook .jp-RenderedMarkdown h1:has-text('{TITLE}')",
                                   timeout=60_000)
            page.screenshot(path=str(tmp_path / "make_course_00.png"))
            art = os.environ.get("CODI_ARTIFACTS")
            if art:
                Path(art).mkdir(parents=True, exist_ok=True)
                shutil.copy(tmp_path / "make_course_00.png", Path(art) / "make_course_00.png")
            assert not errors, errors
        except Exception:
            page.screenshot(path=str(tmp_path / "make_course_failure.png"))
            print("".join(lines)[-4000:])
            raise
        finally:
            browser.close()
