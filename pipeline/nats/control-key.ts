// The KV key of a control scope, shared by the guard (which reads controls),
// the control store and the budgets (whose keys extend it): apart from the
// guard so the budgets need not import it.
import type { ControlScope } from "../../schemas/index.ts";
import { kvToken } from "./subjects.ts";

/** The KV key of a control: its tenant, then the dimension it narrows to. */
export function controlKvKey(scope: ControlScope): string {
  const dim = scope.persona_id
    ? `persona.${kvToken(scope.persona_id)}`
    : scope.feature
      ? `feature.${kvToken(scope.feature)}`
      : scope.user_id
        ? `user.${kvToken(scope.user_id)}`
        : scope.model
          ? `model.${kvToken(scope.model)}`
          : "tenant";
  return `${kvToken(scope.tenant)}.${dim}`;
}
