#!/usr/bin/env bash
# Train and export every shipped conditional model, in two lanes that run side by side
# (one thread each: 2 cores). The ablations are run on PE-CoDi (branch only), so each
# ships as a 2.4 MB branch and data/ stays under its 100 MB budget. Resumable: rerunning continues each run where it stopped;
# finished runs are skipped. Logs: runs/students/<task>-<name>.log
# The three sr4 ablations get exactly the budget (steps x batch) of the sr4 pe-codi they
# ablate, so the benchmark can rank them against it.
#
#   bash scripts/train_students.sh            # both lanes in the background
#   STEPS_SCALE=2 bash scripts/train_students.sh   # twice the steps (continue training)
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
CODI=${CODI:-.venv/bin/codi}
SCALE=${STEPS_SCALE:-1}
COMMON=(--set train.batch_size=32 --set train.ema_decay=0.99 --set train.sample_every=200
        --set train.ckpt_every=100 --no-progress)

run() {  # run <task> <name> <mode> <steps> <lr> [extra --set args...]
  local task=$1 name=$2 mode=$3 steps=$(( $4 * SCALE )) lr=$5; shift 5
  local out=runs/students/$task-$name dest=data/students/$task/$name
  local init=()
  [ "$mode" = cm-two-stage ] && init=(--init-from data/students/$task/controlnet)
  echo "$(date +%T) start $task $name ($mode, $steps steps)"
  if $CODI train --mode "$mode" --task "$task" --out "$out" "${init[@]}" "${COMMON[@]}" \
       --set train.max_steps=$steps --set train.lr=$lr "$@" > "runs/students/$task-$name.log" 2>&1; then
    $CODI export "$out" "$dest" >> "runs/students/$task-$name.log" 2>&1
    echo "$(date +%T) done  $task $name"
  else
    echo "$(date +%T) FAILED $task $name: see runs/students/$task-$name.log"
  fi
}

lane_a() {
  run sr4 controlnet controlnet 600 2e-4
  run sr4 cm-two-stage cm-two-stage 400 1e-4
  run inpaint controlnet controlnet 400 2e-4
  run canny controlnet controlnet 400 2e-4
  run inpaint pe-codi pe-codi 300 2e-4
  run canny pe-codi pe-codi 300 2e-4
  run canny cm-two-stage cm-two-stage 300 1e-4
  run sr4 pe-codi-no-guidance pe-codi 500 2e-4 --set loss.lambda_cg=0
  run sr4 pe-codi-no-consistency pe-codi 500 2e-4 --set loss.lambda_cons=0
}

lane_b() {
  run sr4 codi codi 600 2e-4
  run sr4 pe-codi pe-codi 500 2e-4
  run inpaint codi codi 400 2e-4
  run canny codi codi 400 2e-4
  run inpaint cm-two-stage cm-two-stage 300 1e-4
  run sr4 pe-codi-ode-teacher pe-codi 500 2e-4 --set loss.ode_model=teacher
}

mkdir -p runs/students
lane_a > runs/students/lane_a.log 2>&1 &
lane_b > runs/students/lane_b.log 2>&1 &
wait
