#!/usr/bin/env bash
# Packs what `deno task bench` and bench/gpu-check.sh need onto a machine with
# no internet (e.g. a GPU box): the Deno binary, the sources, the experiments,
# node_modules without source maps and browser bundles, the bench scripts and
# a Vulkan loader (libvulkan.so.1, for Deno's WebGPU), as one .tar.xz under 64 MiB.
#
#   bash bench/kit.sh [OUT_DIR]        # default OUT_DIR: build/kit
#
# `deno compile` would be one file, but it downloads its runtime from
# dl.deno.land, which these machines cannot reach; the shipped binary works
# anywhere with glibc. See bench/README.md for running it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/kit}
name=glyphnet-bench-kit
limit=$((64 * 1024 * 1024))

fail() { echo "kit: cannot pack the benchmark: $*" >&2; exit 1; }

command -v deno >/dev/null || fail "deno is not on PATH"
command -v xz >/dev/null || fail "xz is not installed (apt-get install xz-utils)"
[ -d "$root/node_modules/.deno" ] || fail "node_modules is missing; run 'deno install' first"

# The npm package `deno` puts a shim on PATH; ship the real binary behind it.
deno_bin=$(deno eval --quiet 'console.log(Deno.execPath())')
[ -x "$deno_bin" ] || fail "could not locate the Deno binary (got '$deno_bin')"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dest="$stage/$name"
mkdir -p "$dest/bench" "$out"

cp "$deno_bin" "$dest/deno"
cp "$root/deno.json" "$dest/"
[ -f "$root/deno.lock" ] && cp "$root/deno.lock" "$dest/"
# Every source file, tracked or not (native compiles lib/backend/native/*.c on the target).
(cd "$root" && git ls-files -co --exclude-standard -- lib main.ts mod.ts experiments bench |
  grep -v '^bench/results/') |
  (cd "$root" && xargs -d '\n' cp --parents -t "$dest")
mkdir -p "$dest/bench/results"

# Deno's WebGPU needs the Vulkan loader; GPU machines may lack it (apt needs internet).
vulkan=$(ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' | head -1 | sed 's/.*=> //' || true)
mkdir -p "$dest/vulkan"
if [ -n "$vulkan" ]; then
  cp -L "$vulkan" "$dest/vulkan/libvulkan.so.1"
elif (cd "$stage" && apt-get download libvulkan1 >/dev/null 2>&1); then
  dpkg-deb -x "$stage"/libvulkan1_*.deb "$stage/vk" &&
    cp -L "$stage"/vk/usr/lib/*/libvulkan.so.1 "$dest/vulkan/libvulkan.so.1" || true
fi
[ -f "$dest/vulkan/libvulkan.so.1" ] ||
  echo "kit: warning: no libvulkan.so.1 to pack (apt-get install libvulkan1); the GPU machine needs its own" >&2

# node_modules as installed (symlinks kept); Deno loads each package's
# `main` (the *.node.js build) and per-file modules, never the maps,
# minified, es2017/fesm or UMD browser bundles, nor the type declarations.
# Deno may touch its caches meanwhile: tar's status 1 ("file changed") is fine.
tar -C "$root" -cf "$stage/node_modules.tar" --warning=no-file-changed \
  --exclude='*.map' --exclude='*.min.js' --exclude='*.es2017.js' --exclude='*.fesm.js' \
  --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
  node_modules || [ $? -eq 1 ]
tar -C "$dest" -xf "$stage/node_modules.tar" && rm "$stage/node_modules.tar"
# UMD bundles: dist/tf-*.js except the Node builds.
find "$dest/node_modules/.deno" -path '*/@tensorflow/*/dist/tf-*.js' ! -name '*.node.js' -delete

# Deno reads each npm package's registry metadata before it trusts
# node_modules; ship those (a few MB of JSON, not the tarballs) so it never
# asks the registry.
npm_cache=$(deno info --json | sed -n 's/^ *"npmCache": "\(.*\)",\{0,1\}$/\1/p')
[ -d "$npm_cache/registry.npmjs.org" ] || fail "Deno's npm cache ($npm_cache) has no registry metadata"
(cd "$npm_cache" && find registry.npmjs.org -name registry.json) |
  (cd "$npm_cache" && xargs -d '\n' cp --parents -t "$(mkdir -p "$dest/.deno_dir/npm" && echo "$dest/.deno_dir/npm")")

cat >"$dest/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs the benchmark with the bundled Deno, offline: ./run.sh [bench flags]
here=$(cd "$(dirname "$0")" && pwd)
export DENO_DIR="${DENO_DIR:-$here/.deno_dir}" DENO_NO_UPDATE_CHECK=1
# The bench task's flags (deno.json): no network, writes to bench/results and build only.
cd "$here" && exec ./deno run --allow-read --allow-write=bench/results,build --allow-run --allow-ffi=build --allow-sys=loadavg \
  --allow-env=GLYPHNET_THREADS,GLYPHNET_DEBUG,OPENBLAS_NUM_THREADS,OPENBLAS_THREAD_TIMEOUT,SLURM_CPUS_PER_TASK,LOG_TOKENS,LOG_STREAM,GLYPHNET_PYTHON \
  --v8-flags=--max-old-space-size=16384 bench/bench.ts "$@"
EOF
chmod +x "$dest/run.sh" "$dest/deno"

file="$out/$name.tar.xz"
tar -C "$stage" -cf - "$name" | xz -T0 -6 >"$file"
size=$(stat -c %s "$file")
[ "$size" -le "$limit" ] || fail "$file is $((size / 1048576)) MiB, over the 64 MiB limit"
echo "kit: wrote $file ($((size / 1048576)) MiB)"
