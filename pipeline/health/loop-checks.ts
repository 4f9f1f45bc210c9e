// The health check of each stage loop the supervisor keeps (runner/supervisor.ts):
// running is healthy (its restarts and last error named), restarting is
// degraded (still ready: it is coming back), given up is unhealthy.
import type { LoopState } from "../runner/supervisor.ts";
import type { HealthCheck } from "./health-status.ts";

export function judgeLoop(s: LoopState): HealthCheck {
  const name = `loop:${s.name}`;
  const history = s.restarts ? `; ${s.restarts} restarts, last error at ${s.lastErrorAt}: ${s.lastError}` : "";
  if (s.status === "failed") return { name, status: "unhealthy", detail: `gave up after ${s.recentFailures} failures: ${s.lastError}` };
  if (s.status === "restarting")
    return {
      name,
      status: "degraded",
      detail: `restarting at ${s.restartAt} (failure ${s.recentFailures} in the window, ${s.restarts} restarts so far): ${s.lastError}`,
    };
  return { name, status: "healthy", detail: `running${history}` };
}
