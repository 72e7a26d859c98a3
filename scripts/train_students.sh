#!/usr/bin/env bash
# Train and export every shipped conditional model on the shipped teachers (data/teacher;
# data/teacher-scenes for depth), in two lanes that run side by side (one thread each:
# 2 cores). The budgets (steps x batch 32) are in the table below; the three sr4 ablations
# get exactly the budget of the sr4 pe-codi they ablate, so the benchmark can rank them
# against it. The ablations are run on PE-CoDi (branch only), so each ships as a 2.4 MB
# branch and data/ stays under its budget.
#
# Resumable: rerunning continues each run where it stopped; a run whose export finished
# (runs/students/<task>-<name>.done) is skipped. cm-two-stage starts from the task's
# exported controlnet, so each lane trains a task's controlnet before its CM-II.
# CM-II's settings are chosen with scripts/tune_cm2.sh (measured on the validation split)
# and written, as --set arguments, to runs/cm2-tune/chosen.args; each CM-II run reads that
# file when it starts (default without it: lr 1e-4). The CM-II runs come last in each lane.
#
#   bash scripts/train_students.sh            # both lanes; logs: runs/students/<task>-<name>.log
#   LANES=a bash scripts/train_students.sh    # one lane only
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
CODI=${CODI:-.venv/bin/codi}
COMMON=(--set train.batch_size=32 --set train.ema_decay=0.99 --set train.sample_every=200
        --set train.ckpt_every=100 --no-progress)
cm2_args() {  # the chosen CM-II settings, read when a CM-II run starts
  cat runs/cm2-tune/chosen.args 2>/dev/null || echo "--set train.lr=1e-4"
}

run() {  # run <task> <name> <mode> <steps> <lr> [extra --set args...]
  local task=$1 name=$2 mode=$3 steps=$4 lr=$5; shift 5
  local out=runs/students/$task-$name dest=data/students/$task/$name
  [ -f "$out.done" ] && { echo "$(date +%T) skip  $task $name (done)"; return 0; }
  local init=()
  if [ "$mode" = cm-two-stage ]; then
    init=(--init-from data/students/$task/controlnet)
    read -r -a extra <<< "$(cm2_args)"
    set -- "$@" "${extra[@]}"
  fi
  echo "$(date +%T) start $task $name ($mode, $steps steps)"
  if $CODI train --mode "$mode" --task "$task" --out "$out" "${init[@]}" "${COMMON[@]}" \
       --set train.max_steps="$steps" --set train.lr="$lr" "$@" > "$out.log" 2>&1 \
     && $CODI export "$out" "$dest" >> "$out.log" 2>&1; then
    touch "$out.done"
    echo "$(date +%T) done  $task $name"
  else
    echo "$(date +%T) FAILED $task $name: see $out.log"
  fi
}

lane_a() {
  run sr4 controlnet controlnet 1800 2e-4
  run sr4 codi codi 1800 2e-4
  run inpaint controlnet controlnet 1200 2e-4
  run inpaint codi codi 1200 2e-4
  run inpaint pe-codi pe-codi 900 2e-4
  run sr4 pe-codi-no-guidance pe-codi 1500 2e-4 --set loss.lambda_cg=0
  run sr4 pe-codi-ode-teacher pe-codi 1500 2e-4 --set loss.ode_model=teacher
  run sr4 cm-two-stage cm-two-stage 1200 2e-4
  run inpaint cm-two-stage cm-two-stage 900 2e-4
}

lane_b() {
  run sr4 pe-codi pe-codi 1500 2e-4
  run depth controlnet controlnet 1200 2e-4 --set data=scenes
  run depth codi codi 1200 2e-4 --set data=scenes
  run canny controlnet controlnet 1200 2e-4
  run canny codi codi 1200 2e-4
  run canny pe-codi pe-codi 900 2e-4
  run depth pe-codi pe-codi 900 2e-4 --set data=scenes
  run sr4 pe-codi-no-consistency pe-codi 1500 2e-4 --set loss.lambda_cons=0
  run canny cm-two-stage cm-two-stage 900 2e-4
  run depth cm-two-stage cm-two-stage 900 2e-4 --set data=scenes
}

mkdir -p runs/students
case "${LANES:-ab}" in *a*) lane_a >> runs/students/lane_a.log 2>&1 & ;; esac
case "${LANES:-ab}" in *b*) lane_b >> runs/students/lane_b.log 2>&1 & ;; esac
wait
