// Health as a value: each check healthy, degraded or unhealthy with a detail,
// and the aggregate, which is the worst of them.
export type HealthStatus = "healthy" | "degraded" | "unhealthy";

export interface HealthCheck {
  name: string;
  status: HealthStatus;
  detail: string;
}

export interface HealthReport {
  status: HealthStatus;
  checks: HealthCheck[];
}

const rank: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

export function aggregate(checks: HealthCheck[]): HealthReport {
  const status = checks.reduce<HealthStatus>((worst, c) => (rank[c.status] > rank[worst] ? c.status : worst), "healthy");
  return { status, checks };
}

/** The gauge value for a status: 0 healthy, 1 degraded, 2 unhealthy. */
export const statusValue = (s: HealthStatus): number => rank[s];
