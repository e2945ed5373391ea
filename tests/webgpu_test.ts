/**
 * The checks that ask for a WebGPU adapter (_webgpu_checks.ts: the webgpu
 * backend's, and `auto`'s choice), each a test here, run in one child
 * `deno run` process. Where there is no GPU, WebGPU is Mesa's
 * software driver, which loads LLVM; with it loaded, about one `deno test`
 * process in a hundred aborted at exit ("double free or corruption") after
 * every test had passed, in a thread's exit inside those libraries, while
 * the main thread ran their destructors. 244 `deno run` processes doing the
 * same work all exited cleanly, so the child keeps them out of this process.
 */
import assert from "node:assert/strict";
import { AUTO_CHECK, type CheckResult, WEBGPU_CHECKS } from "./_webgpu_checks.ts";

const LIMIT_MS = 300_000;

/** What the child printed and how it ended. */
interface ChildRun {
  skip?: string;
  results: Map<string, CheckResult>;
  code: number;
  stderr: string;
}

async function runChecks(): Promise<ChildRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      // auto may start native, which builds its library on first use.
      "--allow-ffi",
      "--allow-run=cc",
      `--allow-write=${new URL("../build", import.meta.url).pathname}`,
      new URL("_webgpu_checks.ts", import.meta.url).pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(killer);
  const run: ChildRun = { results: new Map(), code, stderr: new TextDecoder().decode(stderr) };
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line) as CheckResult | { skip: string };
    if ("skip" in parsed) run.skip = parsed.skip;
    else run.results.set(parsed.name, parsed);
  }
  return run;
}

const run = await runChecks();
if (run.skip) console.log(`webgpu tests skipped: ${run.skip}`);
/** The child's last stderr lines, for failure messages. */
const stderrTail = run.stderr.trim().split("\n").slice(-20).join("\n");

for (const check of [AUTO_CHECK, ...WEBGPU_CHECKS]) {
  Deno.test({
    name: check.name,
    ignore: run.skip !== undefined && check !== AUTO_CHECK,
    fn: () => {
      const result = run.results.get(check.name);
      assert.ok(
        result,
        `the check process ended (exit ${run.code}) before this check:\n${stderrTail}`,
      );
      if (!result.ok) throw new Error(`in the check process: ${result.error}`);
    },
  });
}

Deno.test("the webgpu check process ran every check and exited cleanly", () => {
  assert.equal(run.code, 0, `exit ${run.code}:\n${stderrTail}`);
  assert.equal(run.results.size, 1 + (run.skip ? 0 : WEBGPU_CHECKS.length));
});
