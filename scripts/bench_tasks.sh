#!/usr/bin/env bash
# Benchmark v2 one task at a time, then merge the parts into data/bench (bench.json,
# bench.md, the quality-vs-NFE figures) and draw each task's grid (data/bench/grid_<task>.png).
# codi bench keeps every finished row in runs/cache: a stopped run resumes, and a rerun
# measures only the rows whose model, teacher or settings changed (then times every row
# again), so this can run as each task's models are retrained (one lane: THREADS=1).
#
#   bash scripts/bench_tasks.sh                 # every task
#   THREADS=1 bash scripts/bench_tasks.sh depth # one task, one thread
#   MERGE_ONLY=1 bash scripts/bench_tasks.sh    # only merge the parts that exist
# A merge keeps the tasks of the shipped data/bench/bench.json that no part in
# runs/bench-parts measured again, so one task measured on a new machine joins the table.
#   NO_MERGE=1 bash scripts/bench_tasks.sh sr4  # measure, leave data/bench as it is
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${THREADS:-2}
CODI=${CODI:-.venv/bin/codi}
PARTS=runs/bench-parts
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(sr4 inpaint canny depth)
mkdir -p "$PARTS"
if [ -z "${MERGE_ONLY:-}" ]; then
  for task in "${TASKS[@]}"; do
    part=$PARTS/$task
    echo "$(date +%T) bench $task -> $part"
    $CODI bench --tasks "$task" --out "$part" > "$PARTS/$task.log" 2>&1
    $CODI grid --task "$task" --out "$part/grid_$task.png" >> "$PARTS/$task.log" 2>&1 || true
  done
fi
[ -n "${NO_MERGE:-}" ] && exit 0
mapfile -t done_parts < <(ls -d "$PARTS"/*/ 2>/dev/null | while read -r d; do
  [ -f "$d/bench.json" ] && echo "$d"; done)
[ ${#done_parts[@]} -gt 0 ] || { echo "no measured part in $PARTS: nothing to merge" >&2; exit 1; }
base=()   # the shipped table keeps every task that no part here measured again
[ -f data/bench/bench.json ] && base=(--base data/bench)
$CODI bench --merge "${done_parts[@]}" "${base[@]}" --out data/bench > "$PARTS/merge.log"
cp "$PARTS"/*/grid_*.png data/bench/ 2>/dev/null || true
echo "$(date +%T) merged ${#done_parts[@]} part(s) into data/bench"
