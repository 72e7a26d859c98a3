# The course's two commands (see README.md):
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv and run every test
# For hosts (README, "Running a workshop"):
#   make wheelhouse   collect every package the setup installs into wheelhouse/ (needs
#                     network once); with that folder present, the two commands above
#                     install from it with no network
#
# make course options (environment or make variables):
#   CODI_PORT=8899              the port (default: JupyterLab's, 8888 or the next free one)
#   CODI_LAB_ARGS="--no-browser --ip=0.0.0.0"   extra JupyterLab options (a container
#                               whose port is published, a machine without a browser)
# As root (containers, cloud notebooks) JupyterLab needs --allow-root: added only then.
export MALLOC_MMAP_THRESHOLD_ := 4294967296
export MALLOC_TRIM_THRESHOLD_ := 68719476736
export MALLOC_TOP_PAD_ := 1073741824

CODI_PORT ?=
CODI_LAB_ARGS ?=
LAB_ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup course test wheelhouse
setup:
	bash scripts/setup.sh

course: setup
	@echo "make course: JupyterLab prints the address with its access token below (the line with"
	@echo "'?token='); open it in a browser if none opens. Stop the server with Ctrl-C."
	.venv/bin/jupyter lab $(if $(CODI_PORT),--port=$(CODI_PORT)) $(LAB_ROOT_FLAG) $(CODI_LAB_ARGS) notebooks/00_welcome.ipynb

test: setup
	CODI_FAST=1 .venv/bin/python -m pytest -q tests --nbval-lax notebooks

wheelhouse:
	bash scripts/wheelhouse.sh
