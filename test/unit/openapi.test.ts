// The OpenAPI document against the app: every route createApi registers is
// described, nothing else is, and each request part is the schema the route parses with.
import { describe, expect, it } from "vitest";
import { endpoints, openApiDocument, openApiPath } from "../../pipeline/api/openapi.ts";
import { costsQuerySchema } from "../../pipeline/queries/costs-query.ts";
import { registeredRoutes } from "../helpers/api-routes.ts";

type Operation = {
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: { required?: string[] } }> };
  security?: unknown[];
  responses: Record<string, unknown>;
};
const doc = openApiDocument() as { openapi: string; paths: Record<string, Record<string, Operation>> };

describe("the OpenAPI document", () => {
  it("describes exactly the routes the app serves", () => {
    const served = registeredRoutes()
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    const described = endpoints.map((e) => `${e.method.toUpperCase()} ${e.path}`).sort();
    expect(described).toEqual(served);
    const inDocument = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(inDocument).toEqual(served.map((r) => r.replace(/ (.*)$/, (_m, p: string) => ` ${openApiPath(p)}`)).sort());
  });

  it("takes each route's query and body from the zod schema the route parses with", () => {
    const costs = doc.paths["/v1/costs"]!.get!;
    for (const name of Object.keys(costsQuerySchema.shape)) expect(costs.parameters?.map((p) => p.name)).toContain(name);
    expect(costs.parameters?.find((p) => p.name === "from")).toMatchObject({ in: "query", required: true });
    const post = doc.paths["/v1/posts/{id}/costs"]!.get!;
    expect(post.parameters?.find((p) => p.name === "id")).toMatchObject({ in: "path", required: true });
    const keys = doc.paths["/v1/admin/keys"]!.post!;
    expect(Object.keys(keys.requestBody!.content)).toEqual(["application/json"]);
    const budget = doc.paths["/v1/budgets"]!.put!.requestBody!.content["application/json"]!.schema;
    expect(budget.required).toEqual(expect.arrayContaining(["scope", "period", "amount_usd"]));
  });

  it("asks for a key on every /v1 route and for none on the probes", () => {
    for (const [p, ops] of Object.entries(doc.paths))
      for (const op of Object.values(ops)) {
        expect({ p, security: op.security?.length ?? 0 }).toEqual({ p, security: p.startsWith("/v1/") ? 1 : 0 });
        if (p.startsWith("/v1/"))
          expect(Object.keys(op.responses)).toEqual(
            expect.arrayContaining(["200", "401"].filter((s) => s !== "200" || !op.responses["201"])),
          );
      }
  });
});
