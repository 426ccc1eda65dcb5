/**
 * The logging port: structured lines, an object of fields first and a message second, and child
 * loggers that bind fields to every line. Implemented by pino in
 * infrastructure/observability/logger.ts (redaction, request and correlation ids).
 */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}
