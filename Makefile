# The course's two commands (see README.md):
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv and run every test
export MALLOC_MMAP_THRESHOLD_ := 4294967296
export MALLOC_TRIM_THRESHOLD_ := 68719476736
export MALLOC_TOP_PAD_ := 1073741824

.PHONY: setup course test
setup:
	bash scripts/setup.sh

course: setup
	.venv/bin/jupyter lab notebooks/00_welcome.ipynb

test: setup
	CODI_FAST=1 .venv/bin/python -m pytest -q tests --nbval-lax notebooks
