// ClickHouse's own parse of a statement (`EXPLAIN AST`), read into a tree.
// The read-only SQL guard decides on this tree, not on the text, so what it
// allows is exactly what the engine will run. EXPLAIN AST prints one node a
// line, indented one space a level, "Kind detail (children N)"; identifiers
// are printed raw, so a quoted name holding a newline could forge lines: the
// guard refuses such names before parsing, and the parser checks every
// node's declared child count as a second line of defence.
import { PermanentError } from "../errors.ts";

export interface AstNode {
  kind: string;
  /** What follows the kind on its line: a name, a literal, "(alias x)". */
  detail: string;
  children: AstNode[];
}

const LINE = /^( *)([A-Za-z]+)(?: (.*))?$/s;
const CHILDREN = / ?\(children (\d+)\)$/;

export function parseExplainAst(text: string): AstNode {
  const lines = text.replace(/\n+$/, "").split("\n");
  const stack: { node: AstNode; depth: number; declared: number }[] = [];
  let root: AstNode | undefined;
  const close = (depth: number) => {
    while (stack.length > 0 && stack[stack.length - 1]!.depth >= depth) {
      const done = stack.pop()!;
      if (done.node.children.length !== done.declared) throw forged();
    }
  };
  for (const line of lines) {
    const count = CHILDREN.exec(line);
    const m = LINE.exec(count ? line.slice(0, count.index) : line);
    if (!m) throw forged();
    const depth = m[1]!.length;
    const node: AstNode = { kind: m[2]!, detail: m[3] ?? "", children: [] };
    close(depth);
    if (depth === 0) {
      if (root) throw forged();
      root = node;
    } else {
      const parent = stack[stack.length - 1];
      if (!parent || parent.depth !== depth - 1) throw forged();
      parent.node.children.push(node);
    }
    stack.push({ node, depth, declared: count ? Number(count[1]) : 0 });
  }
  close(0);
  if (!root) throw forged();
  return root;
}

function forged(): PermanentError {
  return new PermanentError(
    "validation",
    "read-only SQL: the statement's parse could not be read unambiguously (names with control characters are not allowed)",
  );
}

/** Every node of the tree, depth first, with its parent. */
export function* walk(node: AstNode, parent?: AstNode): Generator<{ node: AstNode; parent: AstNode | undefined }> {
  yield { node, parent };
  for (const c of node.children) yield* walk(c, node);
}

/** The name an Identifier / TableIdentifier / Function node carries, without its alias. */
export function nodeName(node: AstNode): string {
  return node.detail.replace(/ \(alias .*\)$/s, "");
}
