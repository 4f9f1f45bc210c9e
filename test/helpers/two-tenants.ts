// Two tenants with distinct, recognizable data on a running stack, for the
// isolation and injection suites: ledger rows (posts, models, personas,
// users, amounts), a budget, a control and a silence each, and a key each.
// B's markers must never show up in anything answered to A's key.
import { connectStack } from "./stack-nats.ts";
import { createProducer } from "../../pipeline/producer/producer.ts";
import type { CostlineEventInput } from "../../schemas/index.ts";
import { call } from "./api-routes.ts";
import { waitFor, type StackProcess } from "./stack-process.ts";

export const A = "sec-alpha";
export const B = "sec-bravo";
export const DAY = "2026-11-20";
export const RANGE = { from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z" };

export interface TwoTenants {
  keyA: string;
  keyB: string;
  keyIdA: string;
  keyIdB: string;
  events: number;
  /** A's own values, expected in A's answers. */
  markersA: { post: string; model: string; amount: string; silenceId: string; budgetKey: string };
  /** Strings that only B's data contains. */
  markersB: string[];
  postB: string;
  silenceIdB: string;
  budgetKeyB: string;
}

function llm(
  id: string,
  tenant: string,
  model: string,
  provider: string,
  post: string,
  persona: string,
  user: string,
  feature: string,
): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/security",
    type: "costline.llm.usage",
    time: `${DAY}T10:0${id.length % 10}:00Z`,
    data: {
      tenant,
      provider,
      model,
      post_id: post,
      persona_id: persona,
      user_id: user,
      feature,
      usage: { input_tokens: 1200, output_tokens: 300 },
    },
  };
}

function cost(id: string, tenant: string, amount: string, post: string): CostlineEventInput {
  return {
    specversion: "1.0",
    id,
    source: "test/security",
    type: "costline.cost",
    time: `${DAY}T11:00:00Z`,
    data: { tenant, amount, currency: "USD", category: "gpu", post_id: post },
  };
}

async function admin(stack: StackProcess, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await call(stack.info.api_url, method, path, { key: stack.adminKey, body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as Record<string, unknown>;
}

export async function seedTwoTenants(stack: StackProcess): Promise<TwoTenants> {
  const nc = await connectStack(stack);
  const producer = await createProducer({ nc });
  const events = [
    llm("a-1", A, "gpt-4o-mini", "openai", "pa-1111", "persona-alpha", "ua-1", "feat-alpha"),
    llm("a-22", A, "gpt-4o-mini", "openai", "pa-1111", "persona-alpha", "ua-1", "feat-alpha"),
    cost("a-333", A, "3.141500", "pa-2222"),
    llm("b-1", B, "claude-3-5-haiku-20241022", "anthropic", "pb-zulu-9931", "persona-bravo-x", "ub-zulu-77", "feat-bravo-x"),
    llm("b-22", B, "claude-3-5-haiku-20241022", "anthropic", "pb-zulu-9931", "persona-bravo-x", "ub-zulu-77", "feat-bravo-x"),
    cost("b-333", B, "27.182818", "pb-zulu-9932"),
  ];
  await producer.publish(events);
  await nc.close();
  await waitFor("both tenants in the ledger", async () =>
    (await stack.api<{ events: number }>("/v1/totals")).events === events.length ? true : undefined,
  );

  const keyA = (await admin(stack, "POST", "/v1/admin/keys", { tenant: A, name: "alpha dashboards" })) as { key: string; key_id: string };
  const keyB = (await admin(stack, "POST", "/v1/admin/keys", { tenant: B, name: "bravo dashboards" })) as { key: string; key_id: string };
  const budgetA = (await admin(stack, "PUT", "/v1/budgets", { scope: { tenant: A }, period: "monthly", amount_usd: "1717.17" })) as {
    key: string;
  };
  const budgetB = (await admin(stack, "PUT", "/v1/budgets", {
    scope: { tenant: B, persona_id: "persona-bravo-x" },
    period: "monthly",
    amount_usd: "4242.42",
  })) as { key: string };
  const far = new Date(Date.now() + 86_400_000).toISOString();
  await admin(stack, "PUT", "/v1/controls", {
    scope: { tenant: A },
    state: "throttled",
    throttle: { requests_per_minute: 1000 },
    reason: "alpha-control-reason",
    expires_at: far,
  });
  await admin(stack, "PUT", "/v1/controls", {
    scope: { tenant: B, persona_id: "persona-bravo-x" },
    state: "throttled",
    throttle: { requests_per_minute: 7 },
    reason: "bravo-control-reason",
    expires_at: far,
  });
  const silA = (await admin(stack, "POST", "/v1/silences", {
    matchers: [`tenant=${A}`],
    duration: "2h",
    comment: "alpha-silence-comment",
  })) as { id: string };
  const silB = (await admin(stack, "POST", "/v1/silences", {
    matchers: [`tenant=${B}`],
    duration: "2h",
    comment: "bravo-silence-comment",
  })) as { id: string };

  // B's exact totals are markers too: amounts that appear nowhere else.
  const totB = (await admin(stack, "GET", `/v1/totals?tenant=${B}`)) as { cost_usd: string };
  const postB = (await admin(stack, "GET", `/v1/posts/pb-zulu-9931/costs?tenant=${B}`)) as { total_usd: string };
  const markersB = [
    B,
    "pb-zulu-9931",
    "pb-zulu-9932",
    "claude-3-5-haiku",
    "persona-bravo-x",
    "ub-zulu-77",
    "feat-bravo-x",
    "27.182818",
    "4242.42",
    "bravo-control-reason",
    "bravo-silence-comment",
    silB.id,
    keyB.key_id,
    totB.cost_usd,
    postB.total_usd,
  ];
  return {
    keyA: keyA.key,
    keyB: keyB.key,
    keyIdA: keyA.key_id,
    keyIdB: keyB.key_id,
    events: events.length,
    markersA: { post: "pa-1111", model: "gpt-4o-mini", amount: "3.1415", silenceId: silA.id, budgetKey: budgetA.key },
    markersB,
    postB: "pb-zulu-9931",
    silenceIdB: silB.id,
    budgetKeyB: budgetB.key,
  };
}

/** B's markers found in `text` that the request itself did not carry. */
export function leaked(text: string, markersB: readonly string[], request = ""): string[] {
  return markersB.filter((m) => m.length >= 4 && text.includes(m) && !request.includes(m));
}
