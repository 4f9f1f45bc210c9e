// Looks for secrets in files (a $COSTLINE_HOME with its logs, stack.json and
// data) and in captured output, byte for byte.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** "<where> contains secret #i" for every secret found; empty when clean. */
export function secretsIn(where: string, content: string | Buffer, secrets: readonly string[]): string[] {
  const buf = typeof content === "string" ? Buffer.from(content) : content;
  return secrets.flatMap((s, i) => (buf.includes(Buffer.from(s)) ? [`${where} contains secret #${i} (${s.slice(0, 6)}…)`] : []));
}

/** Every file under `dir` (binary data included) searched for every secret. */
export function secretsInTree(dir: string, secrets: readonly string[]): { files: number; found: string[] } {
  const files = filesUnder(dir);
  return { files: files.length, found: files.flatMap((f) => secretsIn(f, readFileSync(f), secrets)) };
}
