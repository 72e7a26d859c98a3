#!/usr/bin/env bash
# Train and export every shipped conditional model on the shipped teachers (data/teacher;
# data/teacher-scenes for depth): one queue, taken by WORKERS workers side by side (one
# thread each; default 2 = this machine's 2 cores). Each worker takes the first run of
# the queue that is not finished, not taken and ready:
#   - a depth run waits until data/teacher-scenes has trained SCENE_STEPS steps
#     (default 7500: its record.json says how many);
#   - a cm-two-stage run waits for its task's controlnet (it starts from that model); its
#     settings are configs/cm2_chosen.args (chosen on the validation split by
#     scripts/tune_cm2.sh, committed).
#   - "scenes teacher" continues the scene teacher (scripts/train_teachers.sh, one thread)
#     to its step count, then exports and measures it into data/teacher-scenes;
#   - a "<task> bench" item waits until every other item of its task is finished, then
#     measures the task (scripts/bench_tasks.sh, one thread, resumable through the
#     benchmark's row cache) into runs/bench-parts/<task>; merging the parts into
#     data/bench stays a separate step (MERGE_ONLY=1 bash scripts/bench_tasks.sh).
# A worker with nothing ready waits while another worker is still training (its result
# may unblock a run), else stops and says what is blocked. While runs/students/PAUSE
# exists no worker starts a new item (running ones go on): touch it to free the cores
# for something else, remove it to go on.
# The budgets (steps x batch 32) are in the queue below, in the order they run (one task
# complete before the next, so each task's benchmark can start as soon as it can). The
# three sr4 ablations get exactly the budget of the sr4 pe-codi they ablate, so the
# benchmark can rank them against it. The ablations are run on PE-CoDi (branch only), so
# each ships as a 2.4 MB branch and data/ stays under its budget. Depth runs CM-II before
# PE-CoDi: on two workers the short controlnet + CM-II lane then balances the long
# CoDi + PE-CoDi lane.
#
# Resumable: rerunning continues each run where it stopped. Finished items are skipped: a
# run whose export finished here (runs/students/<task>-<name>.done) or whose model ships
# in data/students/<task>/<name> with the queue's step count; the scene teacher once
# data/teacher-scenes has its steps; a "<task> bench" once its part is in runs/bench-parts
# or the task is in data/bench/bench.json. So on a new machine (no runs/) the queue starts
# at the first model that is not shipped yet; delete a shipped model to retrain it.
#
#   bash scripts/train_students.sh            # logs: runs/students/<task>-<name>.log, worker-<i>.log
#   WORKERS=1 bash scripts/train_students.sh  # one core
#   BENCH=0 bash scripts/train_students.sh    # train only: skip the "<task> bench" items
#                                             # (benchmark later, when the cores are free)
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
CODI=${CODI:-.venv/bin/codi}
COMMON=(--set train.batch_size=32 --set train.ema_decay=0.99 --set train.sample_every=200
        --set train.ckpt_every=100 --set train.lr=2e-4 --no-progress)
SCENE_STEPS=${SCENE_STEPS:-7500}
# task  name  mode  steps  [extra --set arguments]
QUEUE=(
  "sr4 controlnet controlnet 1800"
  "sr4 codi codi 1800"
  "sr4 pe-codi pe-codi 1500"
  "inpaint controlnet controlnet 1200"
  "inpaint codi codi 1200"
  "sr4 cm-two-stage cm-two-stage 1200"
  "sr4 pe-codi-no-guidance pe-codi 1500 --set loss.lambda_cg=0"
  "sr4 pe-codi-ode-teacher pe-codi 1500 --set loss.ode_model=teacher"
  "sr4 pe-codi-no-consistency pe-codi 1500 --set loss.lambda_cons=0"
  "scenes teacher teacher 7500"
  "sr4 bench bench 0"
  "inpaint pe-codi pe-codi 900"
  "inpaint cm-two-stage cm-two-stage 900"
  "inpaint bench bench 0"
  "canny controlnet controlnet 1200"
  "canny codi codi 1200"
  "canny pe-codi pe-codi 900"
  "canny cm-two-stage cm-two-stage 900"
  "canny bench bench 0"
  "depth controlnet controlnet 1200 --set data=scenes"
  "depth codi codi 1200 --set data=scenes"
  "depth cm-two-stage cm-two-stage 900 --set data=scenes"
  "depth pe-codi pe-codi 900 --set data=scenes"
  "depth bench bench 0"
)
S=runs/students

cm2_args() {  # the chosen CM-II settings, read when a CM-II run starts
  cat configs/cm2_chosen.args
}

steps_in() {  # steps_in <record.json>: its "steps" (0 if there is none)
  .venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1])).get('steps', 0))" "$1" 2>/dev/null || echo 0
}

finished() {  # finished <task> <name> <mode> <steps>: done here, or shipped (see the top)
  [ -f "$S/$1-$2.done" ] && return 0
  case $3 in
    teacher) [ "$(steps_in "data/teacher-$1/record.json")" -ge "$4" ] ;;
    bench) [ -f "runs/bench-parts/$1/bench.json" ] || .venv/bin/python -c "
import json, sys
sys.exit(0 if any(r['task'] == sys.argv[1] for r in json.load(open('data/bench/bench.json'))['rows']) else 1)" "$1" 2>/dev/null ;;
    *) [ "$(steps_in "data/students/$1/$2/record.json")" = "$4" ] ;;
  esac
}

blocked() {  # blocked <task> <mode>: prints why the run cannot start yet (nothing: ready)
  if [ "$2" = bench ]; then
    local item t n m k
    for item in "${QUEUE[@]}"; do
      read -r t n m k _ <<< "$item"
      [ "$t" = "$1" ] && [ "$n" != bench ] && ! finished "$t" "$n" "$m" "$k" && { echo "needs $t $n"; return; }
    done
    return
  fi
  if [ "$1" = depth ]; then
    local have
    have=$(steps_in data/teacher-scenes/record.json)
    [ "$have" -ge "$SCENE_STEPS" ] || { echo "scene teacher at $have of $SCENE_STEPS steps"; return; }
  fi
  if [ "$2" = cm-two-stage ]; then
    local c
    c=$(grep -m1 "^$1 controlnet " <<< "$(printf '%s\n' "${QUEUE[@]}")")
    # shellcheck disable=SC2086
    finished $c || { echo "needs $1 controlnet"; return; }
    [ -f configs/cm2_chosen.args ] || echo "needs configs/cm2_chosen.args (scripts/tune_cm2.sh)"
  fi
}

run() {  # run <task> <name> <mode> <steps> [extra --set args...]
  local task=$1 name=$2 mode=$3 steps=$4; shift 4
  if [ "$mode" = teacher ]; then
    echo "$(date +%T) start $task teacher (to step $steps)"
    if THREADS=1 bash scripts/train_teachers.sh "$task" "$steps" > "$S/$task-teacher.log" 2>&1; then
      touch "$S/$task-teacher.done"; echo "$(date +%T) done  $task teacher"
    else
      echo "$(date +%T) FAILED $task teacher: see $S/$task-teacher.log (not retried by this invocation)"
    fi
    return
  fi
  if [ "$mode" = bench ]; then
    echo "$(date +%T) start $task bench"
    if NO_MERGE=1 THREADS=1 bash scripts/bench_tasks.sh "$task" > "$S/$task-bench.log" 2>&1; then
      touch "$S/$task-bench.done"; echo "$(date +%T) done  $task bench"
    else
      echo "$(date +%T) FAILED $task bench: see $S/$task-bench.log (not retried by this invocation)"
    fi
    return
  fi
  local out=$S/$task-$name dest=data/students/$task/$name init=()
  if [ "$mode" = cm-two-stage ]; then
    init=(--init-from data/students/$task/controlnet)
    read -r -a extra <<< "$(cm2_args)"
    set -- "$@" "${extra[@]}"
  fi
  echo "$(date +%T) start $task $name ($mode, $steps steps)"
  if $CODI train --mode "$mode" --task "$task" --out "$out" "${init[@]}" "${COMMON[@]}" \
       --set train.max_steps="$steps" "$@" > "$out.log" 2>&1 \
     && $CODI export "$out" "$dest" >> "$out.log" 2>&1; then
    touch "$out.done"
    .venv/bin/python scripts/readme_tables.py >> "$out.log" 2>&1 || true  # data/students/README.md
    echo "$(date +%T) done  $task $name"
  else
    echo "$(date +%T) FAILED $task $name: see $out.log (not retried by this invocation)"
  fi
}

busy() {  # another worker is training: a claim without .done whose process is alive
  local c
  for c in "$S"/*.claim; do
    [ -d "$c" ] || continue
    [ -f "${c%.claim}.done" ] && continue
    [ "$(cat "$c/pid" 2>/dev/null)" = "$BASHPID" ] && continue
    kill -0 "$(cat "$c/pid" 2>/dev/null)" 2>/dev/null && return 0
  done
  return 1
}

worker() {
  while :; do
    while [ -e "$S/PAUSE" ]; do sleep 20; done
    local left=0 took=0 why=()
    for item in "${QUEUE[@]}"; do
      read -r task name mode steps extra <<< "$item"
      local out=$S/$task-$name
      finished "$task" "$name" "$mode" "$steps" && continue
      [ "$mode" = bench ] && [ "${BENCH:-1}" = 0 ] && continue
      left=1
      [ -d "$out.claim" ] && continue
      local b
      b=$(blocked "$task" "$mode")
      [ -n "$b" ] && { why+=("$task $name: $b"); continue; }
      mkdir "$out.claim" 2>/dev/null || continue
      echo "$BASHPID" > "$out.claim/pid"
      # shellcheck disable=SC2086
      run "$task" "$name" "$mode" "$steps" $extra
      took=1
      break
    done
    [ "$left" = 0 ] && { echo "$(date +%T) queue finished"; return 0; }
    if [ "$took" = 0 ]; then
      if busy; then sleep 60; continue; fi
      echo "$(date +%T) nothing left that can start now:"
      printf '  %s\n' "${why[@]:-(the rest failed or is taken)}"
      return 0
    fi
  done
}

mkdir -p "$S"
rm -rf "$S"/*.claim   # claims of an earlier invocation (this one starts all the workers)
for i in $(seq 1 "${WORKERS:-2}"); do
  worker >> "$S/worker-$i.log" 2>&1 &
  sleep 5
done
wait
