// Vitest global set-up: rebuild dist/ when a source is newer, so every test
// that spawns `costline` (bin/costline.mjs → dist/) runs the code under test.
// @ts-expect-error plain JavaScript module without declarations
import { ensureBuilt } from "../scripts/build.mjs";

export default function setup(): void {
  (ensureBuilt as (o?: { quiet?: boolean }) => void)();
}
