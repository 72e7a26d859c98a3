"""Running a ``make`` target that starts JupyterLab, as the README tells a learner to:
shared by tests/test_make_course.py (``make course``) and tests/test_i18n.py
(``make course-ja``). Not a test module. No paper equation: course tooling."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
URL_RE = re.compile(r"(http://(?:127\.0\.0\.1|localhost):(\d+)/lab\?token=([0-9a-f]+))")


def setup_is_current() -> bool:
    """The same check as scripts/setup.sh: its stamp matches pyproject.toml + setup.sh
    (otherwise the make target would first install the whole environment)."""
    stamp = REPO / ".venv" / ".codi-setup"
    if not stamp.is_file():
        return False
    src = (REPO / "pyproject.toml").read_bytes() + (REPO / "scripts" / "setup.sh").read_bytes()
    want = hashlib.sha256(src).hexdigest()[:16] + os.environ.get("CODI_TORCH_INDEX", "")
    return stamp.read_text().strip() == want


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_make(target: str, tmp: Path, timeout_s: float = 180):
    """``make <target>`` with ``CODI_PORT`` (a free port), ``CODI_LAB_ARGS=--no-browser``
    and Jupyter's folders in ``tmp``; yields (url with token, output lines) once the
    address is printed, and stops make and JupyterLab (their own session) afterwards."""
    env = dict(os.environ, CODI_PORT=str(free_port()), CODI_LAB_ARGS="--no-browser",
               CODI_FAST="1",
               # JupyterLab's settings, workspaces, runtime and data files go to tmp, not ~
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_DATA_DIR=str(tmp / "data"))
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(["make", target], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        url, end = None, time.time() + timeout_s
        while time.time() < end and url is None:
            url = next((m.group(1) for ln in list(lines) for m in [URL_RE.search(ln)] if m), None)
            if url is None and proc.poll() is not None:
                reader.join(5)
                pytest.fail(f"make {target} exited (status {proc.returncode}) before printing "
                            "the address:\n" + "".join(lines)[-4000:])
            time.sleep(0.3)
        if url is None:
            pytest.fail(f"make {target} printed no address with a token within "
                        f"{timeout_s:.0f} s:\n" + "".join(lines)[-4000:])
        yield url, lines
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
