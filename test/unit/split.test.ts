import { describe, expect, it } from "vitest";
import { splitCost } from "../../pipeline/allocation/split.ts";
import { Decimal } from "../../pipeline/pricing/decimal.ts";

const sum = (xs: { amount_usd: string }[]) => xs.reduce((s, x) => s.plus(x.amount_usd), new Decimal(0)).toFixed();

describe("splitCost", () => {
  it("splits in proportion and adds up exactly", () => {
    const parts = splitCost("1", [
      { post_id: "a", persona_id: "p", weight: "1" },
      { post_id: "b", persona_id: "p", weight: "1" },
      { post_id: "c", persona_id: "q", weight: "1" },
    ]);
    expect(parts.map((p) => p.amount_usd)).toEqual(["0.333333333334", "0.333333333333", "0.333333333333"]);
    expect(sum(parts)).toBe("1");
  });

  it("weights by the driver", () => {
    const parts = splitCost("0.09", [
      { post_id: "a", persona_id: "", weight: "2000" },
      { post_id: "b", persona_id: "", weight: "1000" },
    ]);
    expect(parts.map((p) => [p.post_id, p.amount_usd, p.share])).toEqual([
      ["a", "0.06", 0.666666667],
      ["b", "0.03", 0.333333333],
    ]);
  });

  it("keeps the whole cost unallocated when no post was active", () => {
    expect(splitCost("0.5", [])).toEqual([{ post_id: "", persona_id: "", share: 1, amount_usd: "0.5" }]);
    expect(splitCost("0.5", [{ post_id: "a", persona_id: "", weight: "0" }])).toEqual([
      { post_id: "", persona_id: "", share: 1, amount_usd: "0.5" },
    ]);
  });

  it("is exact for awkward amounts and many posts", () => {
    const drivers = Array.from({ length: 97 }, (_, i) => ({ post_id: `p${i}`, persona_id: "", weight: String(((i * 7919) % 1013) + 1) }));
    for (const cost of ["0.000000000001", "0.123456789012", "1234.5", "0.000000000097"])
      expect(sum(splitCost(cost, drivers))).toBe(new Decimal(cost).toFixed());
  });
});

describe("picodollar integers", () => {
  it("round-trips ledger-scale decimals exactly", async () => {
    const { toPico, fromPico } = await import("../../pipeline/pricing/decimal.ts");
    for (const v of ["0", "1", "0.000000000001", "123.456", "-0.5", "99999999.999999999999"]) expect(fromPico(toPico(v))).toBe(v);
    expect(fromPico(toPico("0.1") + toPico("0.2"))).toBe("0.3");
  });
});
