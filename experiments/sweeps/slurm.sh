#!/bin/bash
# A sweep as a Slurm job array: each array task takes its own slice of the
# plan (the sweep reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT).
#
#   sbatch --array=0-7%4 --requeue experiments/sweeps/slurm.sh experiments/sweeps/quick.yaml
#
# At most 4 tasks at once (%4). Preempted or timed-out tasks checkpoint,
# exit 75 and are requeued; a requeued task resumes its points.
# The runs folder must lie inside the project's runs/ (the only folder the
# sweep task may write); for shared storage, make runs/ a link to it.
#SBATCH --job-name=glyphnet-sweep
#SBATCH --cpus-per-task=2
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:TERM@120
#SBATCH --output=glyphnet-sweep-%A_%a.log
set -u
sweep=${1:?usage: sbatch --array=0-7%4 --requeue slurm.sh <sweep.yaml> [runs folder]}
runs=${2:-runs}

# Run in the background so that this shell can pass a signal on: --signal=B:TERM
# (120 s before the time limit) and scancel reach bash first.
deno task sweep "$sweep" --runs "$runs" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid"
code=$?
# `wait` returns early when a trapped signal arrives: wait for the real exit.
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid"
  code=$?
done
if [ "$code" -eq 75 ] && [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
  # Interrupted: put this task back in the queue; it resumes where it stopped.
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$code"
