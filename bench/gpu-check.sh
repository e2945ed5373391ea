#!/usr/bin/env bash
# One call on a GPU machine with no internet: is WebGPU on the real GPU, and
# how fast is a training step there beside native (all cores) and PyTorch on
# CUDA? Then a few minutes of experiments/color.yaml on webgpu. About 6–7
# minutes in all; every stage has its own time limit.
#
#   bash bench/gpu-check.sh          # from the repository or the unpacked kit (deno task kit)
#   bash bench/gpu-check.sh --dry    # no GPU here: everything but the GPU parts, in ~2 minutes
#
# Results go to $OUT/bench/results/gpu-check-<stamp>/ ($OUT: the folder the
# caller collects; without it, bench/results/gpu-check-<stamp>/): summary.md
# and summary.json, plus env.txt, adapter.json, auto-manifest.json, bench.json,
# bench.txt, gpu-memory.csv, stages.tsv and color/ (the run without its checkpoint).
# Knobs: TOTAL_SECONDS (default 420: the colour run gets what is left, at most
# COLOR_SECONDS, default 240), GLYPHNET_PYTHON (a Python whose torch has CUDA),
# GPU_CHECK_CONFIGS (bench configs, default all).
set -uo pipefail

began=$SECONDS
root=$(cd "$(dirname "$0")/.." && pwd)
dry=0
[ "${1:-}" = "--dry" ] && dry=1
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
results="${OUT:+$OUT/bench/results}"
results="${results:-$root/bench/results}/gpu-check-$stamp"
work=$(mktemp -d)
mkdir -p "$results"
trap 'kill "$sampler" 2>/dev/null; rm -rf "$work"' EXIT
sampler=""

say() { echo "gpu-check: $*" | tee -a "$results/env.txt" >&2; }
stage() { printf '%s\t%s\n' "$(date +%s.%N)" "$1" >>"$results/stages.tsv"; }

# The kit ships ./deno and a DENO_DIR with the npm metadata; the repository uses deno on PATH.
if [ -x "$root/deno" ]; then
  DENO="$root/deno"
  export DENO_DIR="${DENO_DIR:-$root/.deno_dir}"
else
  DENO=$(command -v deno) || { say "FAIL: no deno (run from the kit, or install Deno)"; exit 1; }
fi
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 OPENBLAS_THREAD_TIMEOUT=1
cores=$(nproc)
deno_run() { "$DENO" run --allow-all --v8-flags=--max-old-space-size=16384 --config "$root/deno.json" "$@"; }

stage env
say "results: $results"
say "machine: $(uname -srm), $cores cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=1
  say "GPU: $(nvidia-smi -L | head -1); driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
else
  say "no NVIDIA GPU (nvidia-smi missing or lists none): GPU stages are skipped"
fi
[ "$dry" = 1 ] && say "dry run: small stages, no GPU expected"

# Deno's WebGPU reaches an NVIDIA GPU through Vulkan: the loader (libvulkan.so.1)
# and the driver's ICD (nvidia_icd.json pointing at libGLX_nvidia.so.0).
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  say "Vulkan loader: $(ldconfig -p | grep 'libvulkan\.so\.1 ' | head -1 | sed 's/.*=> //')"
elif [ -f "$root/vulkan/libvulkan.so.1" ]; then
  export LD_LIBRARY_PATH="$root/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  say "Vulkan loader: not installed; using the kit's copy ($root/vulkan/libvulkan.so.1)"
else
  say "MISSING: the Vulkan loader libvulkan.so.1 (apt-get install libvulkan1; the kit carries one when built where apt works)"
fi
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json \
  /usr/local/share/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
glx=$(ldconfig -p 2>/dev/null | grep 'libGLX_nvidia\.so\.0 ' | head -1 | sed 's/.*=> //')
if [ -n "$icd" ]; then
  say "NVIDIA Vulkan ICD: $icd"
elif [ -n "$glx" ]; then
  # The driver library is there but its manifest is not (common in containers): write one.
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' "$glx" \
    >"$work/nvidia_icd.json"
  export VK_DRIVER_FILES="$work/nvidia_icd.json" VK_ICD_FILENAMES="$work/nvidia_icd.json"
  say "NVIDIA Vulkan ICD: no manifest installed; wrote one for $glx"
elif [ "$gpu" = 1 ]; then
  say "MISSING: the NVIDIA Vulkan driver (no nvidia_icd.json, no libGLX_nvidia.so.0); in a container set NVIDIA_DRIVER_CAPABILITIES=all (graphics). WebGPU can only find a software adapter"
fi
command -v vulkaninfo >/dev/null && vulkaninfo --summary >"$results/vulkaninfo.txt" 2>&1

# The Python that has torch (with CUDA when there is a GPU).
python=""
for p in ${GLYPHNET_PYTHON:-} python3 /usr/bin/python3 python; do
  command -v "$p" >/dev/null || continue
  if "$p" -c 'import torch' 2>/dev/null; then python=$p; break; fi
done
torch_device=cpu
if [ -n "$python" ]; then
  export GLYPHNET_PYTHON=$python
  cuda=$("$python" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null)
  say "PyTorch: $("$python" -c 'import torch; print(torch.__version__)') ($python), CUDA available: $cuda"
  [ "$cuda" = True ] && torch_device=cuda
else
  say "MISSING: no Python with torch (set GLYPHNET_PYTHON); the PyTorch rows will say so"
fi
[ "$gpu" = 1 ] && [ "$torch_device" != cuda ] && say "WARNING: a GPU but torch has no CUDA: PyTorch runs on the CPU"

if [ "$gpu" = 1 ]; then
  # GPU memory in use (MiB) twice a second, for the peaks of each stage.
  (while :; do
    printf '%s,%s\n' "$(date +%s.%N)" \
      "$(nvidia-smi --query-gpu=memory.used,memory.total,utilization.gpu --format=csv,noheader,nounits | head -1 | tr -d ' ')"
    sleep 0.5
  done >"$results/gpu-memory.csv") &
  sampler=$!
fi

stage adapter
timeout 60 "$DENO" run --allow-all "$root/bench/gpu_probe.ts" >"$results/adapter.json" 2>>"$results/env.txt"
say "WebGPU adapter: $(cat "$results/adapter.json" 2>/dev/null || echo '(probe failed)')"
hardware=0
grep -q '"fallback":false' "$results/adapter.json" 2>/dev/null && hardware=1
[ "$gpu" = 1 ] && [ "$hardware" = 0 ] &&
  say "FAIL: a GPU, but WebGPU sees no hardware adapter (see the Vulkan lines above); webgpu rows and the colour run will be on a software adapter or skipped"

stage auto
# `auto` must pick webgpu on a real GPU, and the manifest must name it.
(cd "$work" && timeout 90 "$DENO" run --allow-all --config "$root/deno.json" "$root/main.ts" run \
  "$root/experiments/quick.yaml" --backend auto --name auto --runs "$work/runs" \
  --set training.epochs=1 --set training.steps_per_epoch=20 --set eval.every=0 \
  --set output.frame_every=0 >"$results/auto.log" 2>&1)
cp "$work"/runs/*_auto/manifest.json "$results/auto-manifest.json" 2>/dev/null ||
  say "FAIL: the auto run wrote no manifest (see auto.log)"

stage bench
# Step times side by side: PyTorch (CUDA), webgpu, native on every core.
if [ "$dry" = 1 ]; then
  configs=tiny,small backends=native budget=5 steps=(--steps 4)
else
  configs=${GPU_CHECK_CONFIGS:-all} backends=webgpu,native budget=10 steps=()
fi
timeout 200 "$DENO" run --allow-all --v8-flags=--max-old-space-size=16384 --config "$root/deno.json" \
  "$root/bench/bench.ts" --config "$configs" --backend "$backends" --threads "$cores" \
  --torch-device "$torch_device" --budget "$budget" "${steps[@]}" --timeout 80 \
  --out "$results/bench.json" \
  >"$results/bench.txt" 2>"$results/bench.log" ||
  say "FAIL: the benchmark stopped early (see bench.log)"

stage color
# A few minutes of GlyphNet's colour setup on webgpu; Ctrl-C (SIGINT) ends it
# cleanly after the current step, with a checkpoint, status "interrupted".
left=$((${TOTAL_SECONDS:-420} - (SECONDS - began) - 40))
seconds=$((left < ${COLOR_SECONDS:-240} ? left : ${COLOR_SECONDS:-240}))
[ "$seconds" -lt 30 ] && seconds=30
color_args=(--backend webgpu)
if [ "$gpu" = 0 ]; then
  # Exercise the stage on the CPU: a small colour run on auto, briefly.
  seconds=${COLOR_SECONDS:-30}
  color_args=(--backend auto --set image.size=16 --set model.filters=4 --set training.batch_size=16
    --set training.steps_per_epoch=10 --set eval.samples=32 --set eval.matrix_samples=16)
fi
if [ "$gpu" = 1 ] && [ "$hardware" = 0 ]; then
  say "SKIP: the colour run (no hardware WebGPU adapter)"
  seconds=0
fi
[ "$seconds" -gt 0 ] && say "colour run: $seconds s on ${color_args[1]}"
[ "$seconds" -gt 0 ] && (cd "$work" && timeout -s INT -k 40 "$seconds" "$DENO" run --allow-all \
  --v8-flags=--max-old-space-size=16384 --config "$root/deno.json" "$root/main.ts" run \
  "$root/experiments/color.yaml" --name color --runs "$work/runs" "${color_args[@]}" \
  >"$results/color.log" 2>&1)
run=$(ls -d "$work"/runs/*_color 2>/dev/null | head -1)
if [ "$seconds" = 0 ]; then
  :
elif [ -n "$run" ]; then
  mkdir -p "$results/color"
  (cd "$run" && cp -r $(ls | grep -v '^checkpoints$') "$results/color/")
else
  say "FAIL: the colour run made no run folder (see color.log)"
fi

stage summary
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
sampler=""
deno_run "$root/bench/gpu_summary.ts" "$results" --gpu "$gpu" --dry "$dry"
say "done in $((SECONDS - began)) s"
