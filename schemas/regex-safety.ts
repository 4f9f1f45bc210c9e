// Operator-written regular expressions (silence, route and inhibition
// matchers) run in V8's linear-time engine (the `l` flag, RE2-class: an
// automaton, no backtracking), so no pattern can take more than time linear
// in the value's length — `(a+)+$` included. Patterns that engine cannot run
// (back-references, lookarounds: not regular) are refused when written.
import { setFlagsFromString } from "node:v8";

// The engine is behind a V8 flag in Node 20; it only adds the `l` flag and
// changes nothing for other regular expressions.
setFlagsFromString("--enable-experimental-regexp-engine");

/** A label value longer than this never matches a regular-expression matcher. */
export const MAX_MATCHED_VALUE = 1024;

/** The matcher's anchored pattern (as in Prometheus: `acme|initech` matches the whole value), compiled for linear time. */
export function linearRegExp(src: string): RegExp {
  // eslint-disable-next-line no-invalid-regexp -- `l` (linear) is V8's, switched on above
  return new RegExp(`^(?:${src})$`, "l");
}

/** Why the pattern cannot be used (not valid, or not executable in linear time), or undefined when it can. */
export function regexHazard(src: string): string | undefined {
  try {
    linearRegExp(src);
    return undefined;
  } catch (err) {
    const msg = (err as Error).message;
    return /linear time/.test(msg)
      ? "back-references and lookarounds are not allowed (matchers run in a linear-time engine)"
      : `not a regular expression: ${msg.replace(/^Invalid regular expression: /, "")}`;
  }
}
