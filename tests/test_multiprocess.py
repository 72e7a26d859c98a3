"""Several processes: ``accelerate launch`` with 2 CPU processes (gloo) runs the shared
``train_loop`` in sync, only the main process writes checkpoints and log.jsonl, and a
second launch resumes from the checkpoint.

How to get 2 CPU processes: ``accelerate launch --cpu --num_processes 2`` starts a single
process unless MPI is set up (``--mpirun_hostfile``); the torchrun launcher
(``--multi_gpu``) with ``ACCELERATE_USE_CPU=1`` starts N processes that accelerate puts on
the CPU with the gloo backend (DistributedType.MULTI_CPU). That is what runs here.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "multiprocess_train.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, steps: int) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate) if accelerate.exists() else "accelerate", "launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           str(SCRIPT), str(out), str(steps)]
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", CODI_NO_REEXEC="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _results(out: Path, steps: int) -> list[dict]:
    return [json.loads((out / f"result-rank{r}-steps{steps}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow  # ~32 s on a loaded 2-core machine: two launches, 2 processes each
def test_two_cpu_processes_stay_in_sync_write_once_and_resume(tmp_path):
    _launch(tmp_path, 4)
    first = _results(tmp_path, 4)
    assert [r["world"] for r in first] == [2, 2]
    assert all(r["backend"] == "gloo" and "MULTI_CPU" in r["distributed_type"] for r in first)
    assert all(r["resumed_from"] is None and r["step"] == 4 for r in first)
    assert first[0]["checksum"] == first[1]["checksum"]  # identical weights on both processes
    run = tmp_path / "run"
    assert (tmp_path / "ckpt-writes-rank0.txt").read_text().split() == ["2", "4"]
    assert not (tmp_path / "ckpt-writes-rank1.txt").exists()
    log = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]  # one writer: no duplicated lines

    _launch(tmp_path, 6)  # the same command with more steps continues the run
    second = _results(tmp_path, 6)
    assert all(r["resumed_from"] == "ckpt-0000004" and r["step"] == 6 for r in second)
    assert second[0]["checksum"] == second[1]["checksum"] != first[0]["checksum"]
    assert (tmp_path / "ckpt-writes-rank0.txt").read_text().split() == ["2", "4", "6"]
    assert not (tmp_path / "ckpt-writes-rank1.txt").exists()
    log = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4, 5, 6]
    assert (run / "latest").read_text().strip() == "ckpt-0000006"
