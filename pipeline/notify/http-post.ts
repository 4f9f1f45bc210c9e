// One HTTP POST with a time limit, its answer classified for retries: 2xx is
// delivered; 408/425/429/5xx and network errors are worth another attempt
// (with the server's Retry-After); any other status is final.
import { DeliveryError, parseRetryAfter, retryableStatus } from "./retry.ts";
import { createRedactor, urlSecrets } from "./channel-secrets.ts";

export async function postJson(
  url: string,
  body: string,
  opts: { headers?: Record<string, string>; timeoutMs: number; signal?: AbortSignal; secrets?: string[] },
): Promise<{ status: number; text: string }> {
  // A receiver may echo its address, a routing key or a header: none of them reaches an error message.
  const redact = createRedactor([...urlSecrets(url), ...Object.values(opts.headers ?? {}), ...(opts.secrets ?? [])]);
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...opts.headers },
      signal,
      redirect: "error",
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why =
      e.name === "TimeoutError" ? `no answer within ${opts.timeoutMs} ms` : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ""}`;
    throw new DeliveryError(redact(`POST ${new URL(url).host}: ${why}`), { retryable: true });
  }
  const text = await res.text().catch(() => "");
  if (res.status >= 200 && res.status < 300) return { status: res.status, text };
  throw new DeliveryError(`HTTP ${res.status}${text ? `: ${redact(text).slice(0, 300)}` : ""}`, {
    retryable: retryableStatus(res.status),
    status: res.status,
    retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
  });
}
