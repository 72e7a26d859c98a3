# The course's two commands (see README.md):
#   make course   set up .venv and open the course in JupyterLab
#   make test     set up .venv and run every test
# In Japanese (README, "日本語"):
#   make course-ja   the same as `make course CODI_LANG=ja`: opens notebooks/ja/00_welcome.ipynb
#                    with JupyterLab's interface in Japanese (its language pack is installed
#                    by the setup; the setting lives in .venv/codi-lab-ja, not in your own
#                    JupyterLab settings)
# For hosts (README, "Running a workshop"):
#   make wheelhouse   collect every package the setup installs into wheelhouse/ (needs
#                     network once); with that folder present, the two commands above
#                     install from it with no network
#
# make course options (environment or make variables):
#   CODI_PORT=8899              the port (default: JupyterLab's, 8888 or the next free one)
#   CODI_LAB_ARGS="--no-browser --ip=0.0.0.0"   extra JupyterLab options (a container
#                               whose port is published, a machine without a browser)
#   CODI_LANG=ja                the Japanese notebooks (notebooks/ja, built by
#                               scripts/build_ja.py) and a Japanese interface
# As root (containers, cloud notebooks) JupyterLab needs --allow-root: added only then.
export MALLOC_MMAP_THRESHOLD_ := 4294967296
export MALLOC_TRIM_THRESHOLD_ := 68719476736
export MALLOC_TOP_PAD_ := 1073741824

CODI_PORT ?=
CODI_LAB_ARGS ?=
CODI_LANG ?=
LAB_ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Japanese: the file browser shows notebooks/ (both languages), notebook 00 opens in ja/,
# and a settings folder of its own sets JupyterLab's interface language to Japanese
JA_SETTINGS := $(CURDIR)/.venv/codi-lab-ja/settings
ifeq ($(CODI_LANG),ja)
COURSE_NOTEBOOK := notebooks/ja/00_welcome.ipynb
LAB_LANG_ARGS := --ServerApp.root_dir=notebooks --LabApp.user_settings_dir=$(JA_SETTINGS)
else
COURSE_NOTEBOOK := notebooks/00_welcome.ipynb
LAB_LANG_ARGS :=
endif

.PHONY: setup course course-ja ja ja-settings test wheelhouse
setup:
	bash scripts/setup.sh

course: setup $(if $(filter ja,$(CODI_LANG)),ja-settings)
	@echo "make course: JupyterLab prints the address with its access token below (the line with"
	@echo "'?token='); open it in a browser if none opens. Stop the server with Ctrl-C."
	.venv/bin/jupyter lab $(if $(CODI_PORT),--port=$(CODI_PORT)) $(LAB_ROOT_FLAG) $(LAB_LANG_ARGS) $(CODI_LAB_ARGS) $(COURSE_NOTEBOOK)

course-ja:
	$(MAKE) course CODI_LANG=ja

# rebuild notebooks/ja from the English notebooks and notebooks/i18n/ja (lists stale translations)
ja: setup
	.venv/bin/python scripts/build_ja.py

# the interface language of `make course-ja` (written once; JupyterLab may add settings there)
ja-settings: setup
	@mkdir -p "$(JA_SETTINGS)/@jupyterlab/translation-extension"
	@f="$(JA_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings"; \
	  [ -f "$$f" ] || echo '{ "locale": "ja_JP" }' > "$$f"

test: setup
	CODI_FAST=1 .venv/bin/python -m pytest -q tests --nbval-lax notebooks

wheelhouse:
	bash scripts/wheelhouse.sh
