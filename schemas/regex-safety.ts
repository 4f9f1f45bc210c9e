// Operator-written regular expressions (silence and route matchers) run in a
// backtracking engine, so patterns whose matching time can explode are refused
// when they are written: a quantified group that itself holds a quantifier or
// an alternation ((a+)+, (a|ab)*), back-references and lookarounds (not
// regular), and more than a few unbounded quantifiers in one pattern. What is
// left matches in time polynomial of low degree in the value's length, and
// values are capped (MAX_MATCHED_VALUE) where they are matched.

/** A label value longer than this never matches a regular-expression matcher. */
export const MAX_MATCHED_VALUE = 1024;
const MAX_UNBOUNDED = 3;

/** Why the pattern could take super-linear time, or undefined when it cannot. */
export function regexHazard(src: string): string | undefined {
  // Per open group: does it hold a quantifier, an alternation?
  const stack: { quantified: boolean; alternation: boolean }[] = [{ quantified: false, alternation: false }];
  let unbounded = 0;
  let lastWasGroup: { quantified: boolean; alternation: boolean } | undefined;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    const top = stack[stack.length - 1]!;
    let closed: typeof lastWasGroup;
    if (c === "\\") {
      const n = src[i + 1] ?? "";
      if (/[1-9k]/.test(n)) return "back-references are not allowed";
      i++;
    } else if (c === "[") {
      // Skip a character class: nothing in it nests.
      for (i++; i < src.length && src[i] !== "]"; i++) if (src[i] === "\\") i++;
    } else if (c === "(") {
      if (src[i + 1] === "?") {
        const kind = src.slice(i + 2, i + 4);
        if (kind.startsWith("=") || kind.startsWith("!") || kind === "<=" || kind === "<!") return "lookarounds are not allowed";
      }
      stack.push({ quantified: false, alternation: false });
    } else if (c === ")") {
      if (stack.length > 1) closed = stack.pop();
    } else if (c === "|") {
      top.alternation = true;
    } else if (c === "*" || c === "+" || c === "{" || c === "?") {
      let repeats = c !== "?";
      let isUnbounded = c === "*" || c === "+";
      if (c === "{") {
        const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i));
        if (!m) continue;
        repeats = m[2] === "," || Number(m[1]) > 1;
        isUnbounded = m[2] === "," && m[3] === "";
        i += m[0].length - 1;
      }
      if (src[i + 1] === "?" || src[i + 1] === "+") i++; // lazy / possessive marker
      if (lastWasGroup && repeats && (lastWasGroup.quantified || lastWasGroup.alternation)) {
        return lastWasGroup.quantified
          ? "a repeated group that itself repeats ((a+)+) can take exponential time"
          : "a repeated group with alternatives ((a|ab)*) can take exponential time";
      }
      if (isUnbounded && ++unbounded > MAX_UNBOUNDED) return `more than ${MAX_UNBOUNDED} unbounded repetitions (* or +) in one pattern`;
      for (const g of stack) g.quantified ||= repeats;
    }
    if (closed) {
      // The group's own contents propagate to its parent once it is closed.
      const parent = stack[stack.length - 1]!;
      parent.quantified ||= closed.quantified;
      lastWasGroup = closed;
    } else if (c !== "*" && c !== "+" && c !== "?" && c !== "{") {
      lastWasGroup = undefined;
    }
  }
  return undefined;
}
