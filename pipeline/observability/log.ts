// Structured JSON logs (pino). One root logger per process; stages take a child.
import { pino, destination, stdTimeFunctions, type Logger } from "pino";

export type { Logger };

/** Logs to `file` when given (the terminal stays readable), otherwise to stderr. */
export function createLogger(level: string, file?: string): Logger {
  return pino(
    { level, base: { app: "costline" }, timestamp: stdTimeFunctions.isoTime },
    file ? destination({ dest: file, mkdir: true, sync: false }) : destination(2),
  );
}
