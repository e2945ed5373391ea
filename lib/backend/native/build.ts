/**
 * Compiles the C sources beside this file (glyphnet.h, pool.c, runners.c, conv.c,
 * thin.c, thin16.c, wide.c, regions.c, block.c, elementwise.c, channel.c, queue.c, probe.c) into a shared library under
 * `build/`, once per source and flag hash: `build/glyphnet-<hash>.so`. Linux links OpenBLAS,
 * macOS Accelerate (written for, not tested on, macOS); both use POSIX threads.
 * @module
 */

/** The native library could not be built; the message says what to install. */
export class NativeBuildError extends Error {
  override name = "NativeBuildError";
}

const SOURCES = [
  "glyphnet.h",
  "pool.c",
  "runners.c",
  "conv.c",
  "thin.c",
  "thin16.c",
  "wide.c",
  "regions.c",
  "block.c",
  "elementwise.c",
  "channel.c",
  "queue.c",
  "probe.c",
].map((
  f,
) => new URL(`./${f}`, import.meta.url));
const BUILD_DIR = new URL("../../../build/", import.meta.url);
const INSTALL_HINT = Deno.build.os === "darwin"
  ? "install the Xcode command line tools (xcode-select --install)"
  : "install a C compiler and OpenBLAS: apt-get install libopenblas-dev gcc " +
    "(Debian/Ubuntu; libopenblas0-pthread is the fast variant)";

/** Compiler flags for this machine: AVX2/FMA and AVX-512 only where the CPU has them. */
export async function compilerFlags(): Promise<string[]> {
  // No errno or FP traps: lets loops with floorf and clamps vectorise; results are unchanged.
  const flags = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fPIC", "-shared", "-std=c11"];
  if (Deno.build.os === "darwin") return [...flags, "-pthread", "-framework", "Accelerate"];
  return [...flags, ...await vectorFlags(), "-pthread", "-lopenblas", "-lm"];
}

let vectorFlagsOnce: Promise<string[]> | undefined;

/**
 * The vector extensions the kernels are built for, each with the compiler
 * macros that say a CPU has it (what `-march=native` defines). AVX-512 comes
 * only on top of AVX2: its wider vectors and 32 registers make the batch
 * norm's passes (the sigmoid's polynomial) and the thin layers 10-35 %
 * faster on an AVX-512 CPU. Not `-march=native` itself: its tuning for the
 * nearest known CPU made some thin layers slower.
 */
const VECTOR_SETS: { macros: string[]; flags: string[] }[] = [
  { macros: ["__AVX2__", "__FMA__"], flags: ["-mavx2", "-mfma"] },
  {
    macros: ["__AVX512F__", "__AVX512VL__", "__AVX512BW__", "__AVX512DQ__"],
    flags: ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq"],
  },
];

/**
 * The flags of the vector extensions this CPU has, asked of the compiler
 * (what `-march=native` enables), in order until one is missing. Not from
 * /proc/cpuinfo: Deno reads that only with --allow-all, so the tasks'
 * narrower flags built the portable library, at half the speed. The flags
 * go into the library's hash, so machines sharing build/ each get a library
 * their CPU runs.
 */
function vectorFlags(): Promise<string[]> {
  vectorFlagsOnce ??= (async () => {
    const args = ["-march=native", "-E", "-dM", "-x", "c", "/dev/null"];
    try {
      const out = await new Deno.Command("cc", { args, stdout: "piped", stderr: "null" }).output();
      if (!out.success) return [];
      return flagsForMacros(new TextDecoder().decode(out.stdout));
    } catch {
      return []; // no compiler: buildNative says what to install
    }
  })();
  return vectorFlagsOnce;
}

/**
 * The flags of {@link VECTOR_SETS} that the compiler's predefined macros
 * (`cc -march=native -E -dM`) allow, in order until one set is missing.
 *
 * @example
 * ```ts
 * import { flagsForMacros } from "./build.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(flagsForMacros("#define __AVX2__ 1\n#define __FMA__ 1\n"), ["-mavx2", "-mfma"]);
 * assert.deepEqual(flagsForMacros("#define __SSE2__ 1\n"), []);
 * ```
 */
export function flagsForMacros(macros: string): string[] {
  const flags: string[] = [];
  for (const set of VECTOR_SETS) {
    if (!set.macros.every((m) => new RegExp(`#define ${m} 1`).test(macros))) break;
    flags.push(...set.flags);
  }
  return flags;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(path: string | URL): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Deletes libraries of older sources (a process still running one keeps its mapping). */
async function removeStale(current: string): Promise<void> {
  for await (const entry of Deno.readDir(BUILD_DIR)) {
    const path = new URL(entry.name, BUILD_DIR).pathname;
    if (/^glyphnet-[0-9a-f]{16}\.(so|dylib)$/.test(entry.name) && path !== current) {
      await Deno.remove(path).catch(() => {});
    }
  }
}

/** Where the library for the current source and flags lives (built or not). */
export async function nativeLibraryPath(): Promise<string> {
  const sources = await Promise.all(SOURCES.map((u) => Deno.readTextFile(u)));
  const flags = (await compilerFlags()).join(" ");
  const hash = (await sha256Hex([...sources, flags].join("\n"))).slice(0, 16);
  const ext = Deno.build.os === "darwin" ? "dylib" : "so";
  return new URL(`glyphnet-${hash}.${ext}`, BUILD_DIR).pathname;
}

/**
 * Builds the library unless the current one exists, and returns its path.
 * Compiles to a temporary name and renames, so concurrent processes never
 * load a half-written file. Throws {@link NativeBuildError} when the
 * compiler or BLAS is missing.
 *
 * @example
 * ```ts ignore
 * const path = await buildNative();
 * ```
 */
export async function buildNative(opts: { force?: boolean } = {}): Promise<string> {
  const out = await nativeLibraryPath();
  if (!opts.force && exists(out)) return out;
  await Deno.mkdir(BUILD_DIR, { recursive: true });
  const tmp = `${out}.${Deno.pid}.tmp`;
  const units = SOURCES.filter((u) => u.pathname.endsWith(".c")).map((u) => u.pathname);
  const args = [...units, "-o", tmp, ...await compilerFlags()];
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("cc", { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NativeBuildError(
        `Cannot build the native backend: no C compiler "cc"; ${INSTALL_HINT}`,
      );
    }
    throw e;
  }
  if (!result.success) {
    await Deno.remove(tmp).catch(() => {});
    const err = new TextDecoder().decode(result.stderr).trim();
    const missingBlas = /openblas|cblas\.h/i.test(err);
    throw new NativeBuildError(
      `Cannot build the native backend: ${missingBlas ? "OpenBLAS is missing" : "cc failed"}; ` +
        `${INSTALL_HINT}\n${err.split("\n").slice(0, 8).join("\n")}`,
    );
  }
  await Deno.rename(tmp, out);
  await removeStale(out);
  return out;
}

if (import.meta.main) {
  const path = await buildNative({ force: Deno.args.includes("--force") });
  console.log(path);
}
