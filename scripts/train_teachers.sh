#!/usr/bin/env bash
# Train, export and measure the two shipped unconditional teachers with the one recipe in
# configs/teacher.json (cosine betas, v-prediction, Min-SNR-5 weighting, EMA 0.999 with
# warm-up, batch 64, lr 2e-4; chosen on the validation split, see data/teacher/README.md):
#
#   emoji  -> data/teacher         (trained on the emoji "fit" split: train minus val)
#   scenes -> data/teacher-scenes  (trained on the scenes "fit" split; the depth task's prior)
#
# Resumable: rerunning continues each run from its newest checkpoint (runs/teachers/<name>).
# Each teacher is exported with its 64-sample DDIM-50 grid and quality.json (FID/KID of
# N samples against the whole test split beside the real-data floor; high-frequency ratio).
#
#   bash scripts/train_teachers.sh emoji 8000      # one teacher, to step 8000
#   bash scripts/train_teachers.sh scenes 3000
#   THREADS=1 bash scripts/train_teachers.sh scenes 3000   # one lane of two
#   bash scripts/train_teachers.sh scenes 7500 --set init_from=data/teacher-scenes
#        # (a warm start from the shipped weights, 7500 more steps)
# A new machine without runs/teachers/<name> but with a shipped teacher of fewer steps:
# the run warm-starts from the shipped weights (EMA without warm-up) for the missing steps
# only, so "scenes 7500" on a machine that lost runs/ still ends at 7500 steps in all
# (record.json counts the shipped steps too).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: train_teachers.sh emoji|scenes STEPS}
STEPS=${2:?usage: train_teachers.sh emoji|scenes STEPS [--set KEY=VALUE ...]}
shift 2   # the rest goes to codi train-teacher, e.g. --set init_from=data/teacher-scenes
export OMP_NUM_THREADS=${THREADS:-2}
CODI=${CODI:-.venv/bin/codi}
case "$NAME" in
  emoji)  DATA=emoji-fit;  DEST=data/teacher ;;
  scenes) DATA=scenes-fit; DEST=data/teacher-scenes ;;
  *) echo "unknown teacher $NAME (emoji or scenes)" >&2; exit 2 ;;
esac
RUN=runs/teachers/$NAME
mkdir -p "$RUN"
steps_in() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('steps', 0))" "$1" 2>/dev/null || echo 0; }
if [ $# -eq 0 ]; then  # shipped steps a warm start builds on: a warm-started run, or none yet
  warm=0
  if [ -f "$RUN/init_record.json" ]; then warm=$(steps_in "$RUN/init_record.json")
  elif ! ls -d "$RUN"/ckpt-* >/dev/null 2>&1; then warm=$(steps_in "$DEST/record.json"); fi
  if [ "$warm" -gt 0 ]; then
    [ "$warm" -lt "$STEPS" ] || { echo "$(date +%T) $DEST already has $warm steps (>= $STEPS)"; exit 0; }
    echo "$(date +%T) warm start from $DEST ($warm shipped steps) for $((STEPS - warm)) more"
    set -- --set init_from="$DEST" --set train.ema_warmup=false
    STEPS=$((STEPS - warm))
  fi
fi
echo "$(date +%T) train $NAME to step $STEPS"
$CODI train-teacher --out "$RUN" --config configs/teacher.json --no-progress \
  --set data=$DATA --set train.max_steps="$STEPS" "$@" >> "$RUN/train.log" 2>&1
echo "$(date +%T) export $NAME -> $DEST"
$CODI export-teacher "$RUN" "$DEST"
$CODI eval-teacher --teacher "$DEST" --grid "$DEST/samples_ddim50.png" > "$RUN/eval.log" 2>&1
echo "$(date +%T) measured: $DEST/quality.json"
