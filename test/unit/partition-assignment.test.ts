// The partition assignment: balanced round-robin over the sorted members, and
// a member excluded from a partition (it gave it up for making no progress)
// passed over for it, the others' shares unchanged.
import { describe, expect, it } from "vitest";
import { assignPartitions } from "../../pipeline/leases/assignment.ts";

describe("assignPartitions", () => {
  it("shares partitions round-robin over the sorted members", () => {
    expect(assignPartitions(5, ["b", "a"])).toEqual(
      new Map([
        ["a", [0, 2, 4]],
        ["b", [1, 3]],
      ]),
    );
  });

  it("passes an excluded member over for that partition only", () => {
    const out = assignPartitions(4, ["a", "b", "c"], new Map([[0, new Set(["a"])]]));
    expect(out.get("a")).toEqual([3]);
    expect(out.get("b")).toEqual([0, 1]);
    expect(out.get("c")).toEqual([2]);
  });

  it("keeps the usual owner when every member is excluded", () => {
    expect(assignPartitions(2, ["a", "b"], new Map([[1, new Set(["a", "b"])]])).get("b")).toEqual([1]);
  });
});
