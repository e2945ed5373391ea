// The public API's own rules (docs/ARCHITECTURE.md, "The public API"): every function
// mod.ts exports has an example that `deno test --doc` runs and that asserts something,
// and takes at most two required arguments plus an options object `opts`.
import { fileURLToPath as fromFileUrl } from "node:url";
import { assertEquals } from "./_assert.ts";

interface DocParam {
  kind: string;
  name?: string;
  optional?: boolean;
  left?: { name?: string };
}
interface DocSymbol {
  name: string;
  declarations: {
    kind: string;
    jsDoc?: { tags?: { kind: string; doc?: string }[] };
    def?: { params?: DocParam[] };
  }[];
}

/** The functions mod.ts exports, from one `deno doc --json` for both tests. */
let exported: ReturnType<typeof readExportedFunctions> | undefined;
function exportedFunctions(): ReturnType<typeof readExportedFunctions> {
  return exported ??= readExportedFunctions();
}

async function readExportedFunctions(): Promise<
  { name: string; decl: DocSymbol["declarations"][0] }[]
> {
  const root = fromFileUrl(new URL("..", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "-q", "mod.ts"],
    cwd: root,
    stdout: "piped",
  }).output();
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const symbols: DocSymbol[] =
    Object.values(doc.nodes as Record<string, { symbols: DocSymbol[] }>)[0]
      .symbols;
  return symbols.flatMap((s) =>
    s.declarations.filter((d) => d.kind === "function").map((decl) => ({ name: s.name, decl }))
  );
}

Deno.test("mod.ts: every exported function has an @example that runs and asserts", async () => {
  const fns = await exportedFunctions();
  const lacking = fns.filter(({ decl }) => {
    const examples = (decl.jsDoc?.tags ?? []).filter((t) => t.kind === "example");
    return !examples.some((t) => /^```ts\n/.test(t.doc ?? "") && /\bassert/.test(t.doc ?? ""));
  }).map((f) => f.name);
  assertEquals(lacking, [], "functions without a running, asserting @example");
  assertEquals(fns.length > 10, true);
});

Deno.test("mod.ts: every exported function takes at most two required arguments plus opts", async () => {
  const tooMany = (await exportedFunctions()).filter(({ decl }) => {
    const params = decl.def?.params ?? [];
    const nameOf = (p?: DocParam) => p?.name ?? p?.left?.name;
    const rest = nameOf(params.at(-1)) === "opts" ? params.slice(0, -1) : params;
    const required = rest.filter((p) => p.kind === "identifier" && !p.optional);
    return required.length > 2 || params.length > 3;
  }).map((f) => f.name);
  assertEquals(tooMany, []);
});
