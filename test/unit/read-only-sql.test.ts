import { describe, expect, it } from "vitest";
import { checkReadOnly } from "../../pipeline/queries/read-only-sql.ts";

describe("checkReadOnly", () => {
  it.each(["SELECT 1", "  with x as (select 1) select * from x;", "SHOW TABLES FROM costline", "DESCRIBE costline.ledger"])(
    "allows %j",
    (q) => expect(() => checkReadOnly(q)).not.toThrow(),
  );
  it.each([
    "INSERT INTO costline.ledger VALUES (1)",
    "DROP TABLE costline.ledger",
    "SELECT 1; DROP TABLE costline.ledger",
    "SELECT * FROM file('/etc/passwd')",
    "SELECT * FROM url('http://x', CSV)",
    "SELECT 1 INTO OUTFILE 'x.csv'",
    "SELECT 1 SETTINGS readonly = 0",
    "",
  ])("refuses %j", (q) => expect(() => checkReadOnly(q)).toThrow(/read-only|one statement|empty/));
});
