/**
 * How many threads a backend computes on: `training.threads` (a number, or
 * `auto`), where `auto` is `GLYPHNET_THREADS` when set (a sweep running
 * several jobs divides the cores that way), else the cores this process may
 * use: the fewest of its CPU affinity (taskset), its cgroup's CPU quota
 * (containers, `cpu.max`) and `SLURM_CPUS_PER_TASK`.
 * @module
 */

/** The threads to use and where the number came from (for the manifest). */
export interface ThreadChoice {
  threads: number;
  /** E.g. "training.threads", "GLYPHNET_THREADS", "auto: 2 cores (affinity 2, cgroup quota 4)". */
  from: string;
}

/** What the cores a process may use are read from; each is absent where unknown. */
export interface CoreSources {
  /** `/proc/self/status`'s `Cpus_allowed_list`, e.g. "0-3,8". */
  affinity?: string;
  /** A cgroup CPU quota in cores (quota / period), the smallest along the cgroup's path. */
  quota?: number;
  /** `SLURM_CPUS_PER_TASK`. */
  slurm?: string;
  /** Logical CPUs of the machine (navigator.hardwareConcurrency). */
  machine: number;
}

/** CPUs in a Linux CPU list such as "0-3,8,10-11" (0 when it cannot be read). */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(",")) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) return 0;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n;
}

/** The cores a process may use, from its sources, with the reason. */
export function coresFrom(s: CoreSources): ThreadChoice {
  const limits: [string, number][] = [["machine", s.machine]];
  const affinity = s.affinity ? countCpuList(s.affinity) : 0;
  if (affinity > 0) limits.push(["affinity", affinity]);
  if (s.quota !== undefined && s.quota > 0) limits.push(["cgroup quota", Math.ceil(s.quota)]);
  const slurm = Number(s.slurm);
  if (s.slurm && Number.isInteger(slurm) && slurm > 0) limits.push(["SLURM_CPUS_PER_TASK", slurm]);
  const threads = Math.max(1, Math.min(...limits.map(([, n]) => n)));
  const detail = limits.map(([what, n]) => `${what} ${n}`).join(", ");
  return { threads, from: `auto: ${threads} core${threads === 1 ? "" : "s"} (${detail})` };
}

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** The smallest CPU quota (in cores) on this process's cgroup path, v2 or v1; undefined if none. */
function cgroupQuota(): number | undefined {
  const quotas: number[] = [];
  for (const line of (read("/proc/self/cgroup") ?? "").split("\n")) {
    const [, controllers, path] = line.split(":");
    if (path === undefined) continue;
    const v2 = controllers === "";
    if (!v2 && !controllers.split(",").includes("cpu")) continue;
    const root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu";
    // A quota anywhere up the path limits this process.
    for (let p = path;; p = p.slice(0, p.lastIndexOf("/"))) {
      const dir = `${root}${p === "/" ? "" : p}`;
      const q = v2 ? quotaV2(read(`${dir}/cpu.max`)) : quotaV1(dir);
      if (q !== undefined) quotas.push(q);
      if (p === "" || p === "/") break;
    }
  }
  return quotas.length ? Math.min(...quotas) : undefined;
}

function quotaV2(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? "").trim().split(/\s+/);
  if (!quota || quota === "max" || !Number(period)) return undefined;
  return Number(quota) / Number(period);
}

function quotaV1(dir: string): number | undefined {
  const quota = Number(read(`${dir}/cpu.cfs_quota_us`));
  const period = Number(read(`${dir}/cpu.cfs_period_us`));
  return quota > 0 && period > 0 ? quota / period : undefined;
}

/** The cores this process may use (affinity, cgroup quota, SLURM), read from the system. */
export function availableCores(): ThreadChoice {
  const status = read("/proc/self/status") ?? "";
  return coresFrom({
    affinity: status.match(/^Cpus_allowed_list:\s*(.+)$/m)?.[1],
    quota: cgroupQuota(),
    slurm: Deno.env.get("SLURM_CPUS_PER_TASK"),
    machine: navigator.hardwareConcurrency || 1,
  });
}

/**
 * Resolves a `training.threads` setting. A number is used as given; `auto`
 * takes `GLYPHNET_THREADS` when set, else {@link availableCores}. Throws a
 * RangeError naming the variable when GLYPHNET_THREADS is not a whole number ≥ 1.
 */
export function resolveThreads(setting: "auto" | number = "auto"): ThreadChoice {
  if (setting !== "auto") return { threads: setting, from: "training.threads" };
  const raw = Deno.env.get("GLYPHNET_THREADS");
  if (raw === undefined || raw === "") return availableCores();
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot use GLYPHNET_THREADS="${raw}": it must be a whole number ≥ 1`);
  }
  return { threads: n, from: "GLYPHNET_THREADS" };
}
