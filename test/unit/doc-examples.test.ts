// Every CloudEvent shown in the README and docs/ is one a producer can copy:
// each parses with the wire schema, so an example cannot drift from the code;
// docs/event-kinds.md shows the example of each row of the kinds table.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { costlineEvent, eventTypes, type EventType } from "../../schemas/events.ts";
import { eventKinds } from "../../schemas/event-kinds.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const docs = [
  "README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The events in a Markdown file's json/ndjson code blocks: whole blocks, or one per line for NDJSON. */
function documentedEvents(file: string): { where: string; text: string }[] {
  const md = readFileSync(path.join(root, file), "utf8");
  const found: { where: string; text: string }[] = [];
  for (const m of md.matchAll(/```(json|ndjson)\n([\s\S]*?)```/g)) {
    const texts = m[1] === "ndjson" ? m[2]!.split("\n").filter((l) => l.trim()) : [m[2]!];
    for (const text of texts) if (text.includes('"specversion"')) found.push({ where: `${file} @${m.index}`, text });
  }
  return found;
}

describe("documented event examples", () => {
  const all = docs.flatMap(documentedEvents);

  it("covers every event kind", () => {
    const kinds = new Set(all.map((e) => (JSON.parse(e.text) as { type: string }).type));
    expect([...kinds].sort()).toEqual([...eventTypes].sort());
  });

  it("shows each kind's example from the kinds table in docs/event-kinds.md", () => {
    const shown = documentedEvents("docs/event-kinds.md").map((e) => JSON.parse(e.text) as { type: string });
    expect(shown.map((e) => e.type)).toEqual(Object.keys(eventKinds));
    for (const e of shown) expect(e).toEqual(eventKinds[e.type as EventType].example);
  });

  it.each(all.map((e) => [e.where, e.text] as const))("%s validates", (_where, text) => {
    const parsed = costlineEvent.safeParse(JSON.parse(text));
    expect(parsed.success ? "ok" : parsed.error.message).toBe("ok");
  });
});
