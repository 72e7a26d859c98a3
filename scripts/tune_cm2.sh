#!/usr/bin/env bash
# Tune the CM-II baseline (two-stage consistency distillation) on the validation split
# carved from train, never on test. Each variant starts from the same `controlnet`
# trained on the fit split and is measured against that starting point with
# `codi bench --split val`: a fair baseline must end better than where it started.
#
#   bash scripts/tune_cm2.sh [task]          # default sr4; results in runs/cm2-tune/<variant>/bench
#   STEPS=400 bash scripts/tune_cm2.sh       # CM-II steps per variant (default 400)
# The variants are in configs/cm2_variants.txt; scripts/choose_cm2.py writes the choice.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CODI=${CODI:-.venv/bin/codi}
TASK=${1:-sr4}
STEPS=${STEPS:-400}
ROOT=runs/cm2-tune/$TASK
COMMON=(--set data=emoji-fit --set train.batch_size=32 --set train.sample_every=200
        --set train.ckpt_every=100 --no-progress)
mkdir -p "$ROOT"
# the starting point, on the fit split
$CODI train --mode controlnet --task "$TASK" --out "$ROOT/controlnet-run" "${COMMON[@]}" \
  --set train.max_steps=${INIT_STEPS:-1200} --set train.lr=2e-4 --set train.ema_decay=0.99 \
  > "$ROOT/controlnet.log" 2>&1 && $CODI export "$ROOT/controlnet-run" "$ROOT/init/$TASK/controlnet" >> "$ROOT/controlnet.log"
# the starting point itself on CM-II's rows: the controlnet sampled by the CoDi sampler
# on the same grid (what CM-II must beat), measured as if it were an untrained CM-II
mkdir -p "$ROOT/start/students/$TASK"
cp -r "$ROOT/init/$TASK/controlnet" "$ROOT/start/students/$TASK/"
cp -r "$ROOT/init/$TASK/controlnet" "$ROOT/start/students/$TASK/cm-two-stage"
[ -f "$ROOT/start/bench/bench.json" ] || $CODI bench --split val --tasks "$TASK" \
  --models controlnet cm-two-stage --seeds 1 \
  --students "$ROOT/start/students" --out "$ROOT/start/bench" > "$ROOT/start.log" 2>&1
# variant name, then its overrides (learning rate, per-sample n, EMA rate of the target)
mapfile -t variants < <(grep -v '^#' configs/cm2_variants.txt | grep .)
for v in "${variants[@]}"; do
  read -r name args <<< "$v"
  [ -f "$ROOT/$name/bench/bench.json" ] && continue   # measured already (resumable)
  dest=$ROOT/$name/students/$TASK
  mkdir -p "$dest"
  cp -r "$ROOT/init/$TASK/controlnet" "$dest/"
  # shellcheck disable=SC2086
  $CODI train --mode cm-two-stage --task "$TASK" --out "$ROOT/$name/run" \
    --init-from "$ROOT/init/$TASK/controlnet" "${COMMON[@]}" --set train.max_steps=$STEPS $args \
    > "$ROOT/$name.log" 2>&1 && $CODI export "$ROOT/$name/run" "$dest/cm-two-stage" >> "$ROOT/$name.log"
  # only CM-II's rows: the controlnet's own rows are those of the starting point's table
  $CODI bench --split val --tasks "$TASK" --models cm-two-stage --seeds 1 \
    --students "$ROOT/$name/students" --out "$ROOT/$name/bench" >> "$ROOT/$name.log" 2>&1
  echo "$(date +%T) $name done: $ROOT/$name/bench/bench.md"
done
# the choice: lowest CM-II LPIPS at 4 steps on val -> configs/cm2_chosen.args (commit it)
.venv/bin/python scripts/choose_cm2.py "$ROOT"
