"""Notebook 07's widget in a real browser (Debian's Chromium driven by Playwright).

1. JupyterLab with a kernel, in fast mode: open notebooks/07_side_by_side.ipynb, run all
   cells, move the student-steps slider with the keyboard and check that the student
   picture changed (its PNG bytes, not just the blob URL).
2. The static HTML page that ``scripts/build_site.py`` exports: no kernel, every
   request that leaves localhost blocked, same slider check, plus the teacher slider.
3. The same notebook's reveal.js slides from that build, network blocked too: reveal.js
   starts, the right arrow moves to the next slide, and the page raises no error.

Skipped only when Chromium or Playwright is missing. Screenshots go to the test's tmp
folder and, when ``$CODI_ARTIFACTS`` is set, to that folder too. When the shipped sr4
models (data/students/sr4/{controlnet,codi}) are not there yet, tiny ones are exported
to a tmp folder and passed on with ``CODI_STUDENTS_DIR``.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CODI_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)")

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "07_side_by_side.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# FNV-1a over the bytes behind an <img> (a blob: URL): the picture, not its URL.
DIGEST_JS = """async (sel) => {
  const img = document.querySelector(sel);
  if (!img || !img.src) return null;
  const u = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let h = 2166136261;
  for (const x of u) { h ^= x; h = Math.imul(h, 16777619) >>> 0; }
  return `${u.length}:${h}`;
}"""
STUDENT_IMG = ".codi-student-stack img"
TEACHER_IMG = ".codi-teacher-stack img"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    art = os.environ.get("CODI_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(art) / name)
    return path


def _wait_digest_change(page, selector: str, before: str, timeout: float = 15.0) -> str:
    end = time.time() + timeout
    now = before
    while time.time() < end:
        now = page.evaluate(DIGEST_JS, selector)
        if now and now != before:
            return now
        time.sleep(0.2)
    return now


def _press(page, slider_class: str, key: str) -> None:
    handle = page.locator(f".{slider_class} .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press(key)


@pytest.fixture(scope="module")
def notebook_env(tiny_teacher_dir, tmp_path_factory):
    """Environment for the kernels: fast mode, and tiny sr4 models if none are shipped."""
    from codi_lib.course import widgets
    from codi_lib.training.paths import STUDENTS_DIR_ENV
    env = dict(os.environ, CODI_FAST="1")
    ok, _ = widgets.available_tasks(("sr4",))
    if not ok:
        students = tmp_path_factory.mktemp("browser") / "students"
        _export_tiny(tiny_teacher_dir, students, "sr4")
        env[STUDENTS_DIR_ENV] = str(students)
    return env


def _export_tiny(teacher_dir, students_dir, task="sr4"):
    from conftest import export_tiny_students
    export_tiny_students(teacher_dir, students_dir, task)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def lab(notebook_env, tmp_path_factory):
    """JupyterLab on a free localhost port, no token, root = a folder holding a copy of
    notebook 07; its own settings (no windowing, so every output stays in the DOM; the
    default kernel starts without asking; no news), runtime and config folders."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp / "settings"
    for rel, value in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"windowingMode": "none", "autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    }.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    port = _free_port()
    env = dict(notebook_env, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"))
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'ws'}",
         "--LabApp.news_url=None"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(tmp / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(base + "/api/status", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 2 minutes")
        yield base, tmp / "lab.log"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _kernel_idle(base: str) -> bool:
    try:
        sessions = json.load(urllib.request.urlopen(base + "/api/sessions", timeout=5))
    except OSError:
        return False
    return any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions)


def _run_all_cells(page, base: str, attempts: int = 3) -> None:
    """Run > Run All Cells, once the kernel is up; retried when no cell starts (a click
    that lands before the page has connected to the kernel does nothing)."""
    for _ in range(attempts):
        end = time.time() + 120
        while not _kernel_idle(base) and time.time() < end:
            time.sleep(0.5)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=60_000)
        page.click("li.lm-MenuBar-item:has-text('Run')")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        try:  # a code cell is queued/running ([*]) or done ([1])
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('.jp-InputArea-prompt'))"
                ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))", timeout=20_000)
            return
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    pytest.fail("Run All Cells did not start any cell in JupyterLab")


def test_jupyterlab_slider_switches_student_image(lab, browser, tmp_path):
    base, log = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}")
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        _run_all_cells(page, base)
        page.wait_for_selector(STUDENT_IMG, state="attached", timeout=240_000)
        page.locator(STUDENT_IMG).first.scroll_into_view_if_needed()
        before = page.evaluate(DIGEST_JS, STUDENT_IMG)
        caption = page.inner_text(".codi-student-caption")
        assert before and "1 step" in caption
        _press(page, "codi-student-slider", "ArrowRight")
        after = _wait_digest_change(page, STUDENT_IMG, before)
        _save_screenshot(page, tmp_path, "07_jupyterlab.png")
        assert after != before, "the student image did not change with the slider"
        assert "2 steps" in page.inner_text(".codi-student-caption")
        # the rest of the notebook runs to the end without an error output
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=240_000)
        n_err = page.locator("[data-mime-type='application/vnd.jupyter.error']").count()
        assert n_err == 0, "a notebook cell raised an error"
        assert not errors, errors
    except Exception:
        _save_screenshot(page, tmp_path, "07_jupyterlab_failure.png")
        print(log.read_text()[-4000:])
        raise
    finally:
        page.close()


@pytest.fixture(scope="module")
def static_site(notebook_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "build_site.py"), "--fast",
                          "--only", "07", "--out", str(out)],
                         env=notebook_env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"build_site failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    page = out / (NOTEBOOK.stem + ".html")
    assert page.is_file() and (out / "index.html").is_file()
    assert (out / "_static" / "html-manager" / "embed-amd.js").is_file()
    assert (out / (NOTEBOOK.stem + ".slides.html")).is_file()
    assert (out / "_static" / "reveal.js" / "dist" / "reveal.js").is_file()
    assert (out / "docs" / "glossary.html").is_file() and (out / "docs" / "cheatsheet.html").is_file()
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_server(static_site):
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(static_site)))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _offline_page(browser, site_server: str, viewport: dict):
    """A new page whose requests may only reach ``site_server``: anything that would leave
    localhost is aborted and listed in ``blocked``; page errors go to ``errors``."""
    page = browser.new_page(viewport=viewport)
    blocked, errors = [], []

    def route(r):
        if r.request.url.startswith(site_server + "/"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, blocked, errors


def test_static_page_works_offline(site_server, browser, tmp_path):
    html = site_server + f"/{NOTEBOOK.stem}.html"
    text = urllib.request.urlopen(html).read().decode()
    assert "cdn.jsdelivr" not in text and "unpkg.com" not in text and "cdnjs" not in text
    page, blocked, errors = _offline_page(browser, site_server, {"width": 1400, "height": 1000})
    try:
        page.goto(html)
        page.wait_for_selector(STUDENT_IMG, timeout=60_000)
        before = page.evaluate(DIGEST_JS, STUDENT_IMG)
        assert before and "1 step" in page.inner_text(".codi-student-caption")
        _press(page, "codi-student-slider", "ArrowRight")
        after = _wait_digest_change(page, STUDENT_IMG, before)
        assert after != before, "the student image did not change with the slider (no kernel)"
        assert "2 steps" in page.inner_text(".codi-student-caption")
        t_before = page.evaluate(DIGEST_JS, TEACHER_IMG)
        _press(page, "codi-teacher-slider", "ArrowLeft")
        assert _wait_digest_change(page, TEACHER_IMG, t_before) != t_before
        _save_screenshot(page, tmp_path, "07_static.png")
        assert not blocked, f"the static page tried to reach the network: {blocked[:5]}"
        assert not errors, errors
    except Exception:
        _save_screenshot(page, tmp_path, "07_static_failure.png")
        raise
    finally:
        page.close()


def test_slides_work_offline(site_server, browser, tmp_path):
    url = site_server + f"/{NOTEBOOK.stem}.slides.html"
    text = urllib.request.urlopen(url).read().decode()
    assert "unpkg.com" not in text and "cdnjs" not in text and "cdn.jsdelivr" not in text
    page, blocked, errors = _offline_page(browser, site_server, {"width": 1280, "height": 800})
    try:
        page.goto(url)
        page.wait_for_selector(".reveal.ready", timeout=60_000)  # reveal.js initialised
        n_slides = page.locator(".reveal .slides > section").count()
        assert n_slides >= 2, f"only {n_slides} slide(s): the headings did not cut the notebook"
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => location.hash.startsWith('#/1')", timeout=10_000)
        _save_screenshot(page, tmp_path, "07_slides.png")
        assert not blocked, f"the slides tried to reach the network: {blocked[:5]}"
        assert not errors, errors
    except Exception:
        _save_screenshot(page, tmp_path, "07_slides_failure.png")
        raise
    finally:
        page.close()
