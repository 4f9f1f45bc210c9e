// Which span or resource attributes fill costline's attribution keys. The
// defaults follow the OpenTelemetry conventions (user.id, session.id,
// gen_ai.operation.name); COSTLINE_OTLP_ATTRIBUTES names more, tried first:
//   COSTLINE_OTLP_ATTRIBUTES='{"persona_id":["app.persona"],"feature":["app.feature"],"post_id":["app.post_id"]}'
import * as z from "zod";

const names = z.array(z.string().min(1).max(256)).max(16);

export const otlpAttributeOverrides = z
  .object({
    persona_id: names,
    feature: names,
    post_id: names,
    user_id: names,
    operation: names,
    correlation_id: names,
  })
  .partial()
  .strict();

export type OtlpAttributeMap = Required<z.infer<typeof otlpAttributeOverrides>>;

export const defaultOtlpAttributes: OtlpAttributeMap = {
  persona_id: ["costline.persona_id", "persona.id"],
  feature: ["costline.feature", "feature.name"],
  post_id: ["costline.post_id", "post.id"],
  user_id: ["user.id", "enduser.id", "costline.user_id"],
  operation: ["gen_ai.operation.name"],
  correlation_id: ["session.id", "gen_ai.conversation.id"],
};

/** The configured names before the defaults, for every key. */
export function otlpAttributeMap(overrides: z.infer<typeof otlpAttributeOverrides> = {}): OtlpAttributeMap {
  const out = { ...defaultOtlpAttributes };
  for (const k of Object.keys(out) as (keyof OtlpAttributeMap)[]) out[k] = [...(overrides[k] ?? []), ...defaultOtlpAttributes[k]];
  return out;
}

/** COSTLINE_OTLP_ATTRIBUTES (JSON) → the attribute map; a clear ConfigError when it is malformed. */
export function parseOtlpAttributes(json: string | undefined, fail: (message: string) => Error): OtlpAttributeMap {
  if (json === undefined) return otlpAttributeMap();
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw fail("COSTLINE_OTLP_ATTRIBUTES is not valid JSON");
  }
  const parsed = otlpAttributeOverrides.safeParse(value);
  if (!parsed.success)
    throw fail(`COSTLINE_OTLP_ATTRIBUTES: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  return otlpAttributeMap(parsed.data);
}
