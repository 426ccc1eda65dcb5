import { systemClock, type Clock } from '../domain/ports/clock';
/**
 * Process entry point (`npm start`: node dist/main/server.js): configuration, the composition
 * root, the HTTP listeners, graceful shutdown.
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish, stop background
 * work after its current batch (checkpoints committed), close the database, exit; forced exit
 * after SHUTDOWN_TIMEOUT_MS.
 */
import type { Server } from 'node:http';
import { ConfigError, loadConfig, type Config } from '../infrastructure/config/config';
import { DevDefaultsError, withDevDefaults, type DevDefaultsOutcome } from '../infrastructure/config/devDefaults';
import { createLogger } from '../infrastructure/observability/logger';
import type { Logger } from '../infrastructure/observability/logger';
import { serveHttp } from '../http/server';
import { Settle } from './compose';

export interface RunningService {
  readonly runtime: Settle;
  readonly server: Server;
  readonly port: number;
  /** The METRICS_PORT listener's port, when there is one. */
  readonly metricsPort: number | null;
  shutdown(reason: string): Promise<void>;
}

/**
 * configure() runs after the adapters and loops are built and before the command services and
 * background work: consumers must be subscribed before the relay delivers (the in-process bus has
 * no retention), and tests replace the billing provider or a payment gateway there.
 */
export async function startService(config: Config, logger: Logger, configure?: (settle: Settle) => Promise<void>, clock: Clock = systemClock): Promise<RunningService> {
  const settle = await Settle.create(config, logger, clock);
  await configure?.(settle);
  let shuttingDown = false;
  const http = await serveHttp(settle.httpServices(), {
    port: config.PORT,
    host: config.HOST,
    ...(config.METRICS_PORT !== undefined ? { metricsPort: config.METRICS_PORT } : {}),
    metricsHost: config.METRICS_HOST,
    isShuttingDown: () => shuttingDown,
  });
  settle.start();
  const { port, metricsPort } = http;
  const metrics = metricsPort !== null ? `${config.METRICS_HOST}:${metricsPort}${config.METRICS_TOKEN ? ' (bearer token)' : ''}` : config.METRICS_TOKEN ? 'public port, bearer token' : 'off (set METRICS_PORT or METRICS_TOKEN)';
  logger.info({ port, metrics, storage: config.storage, messaging: config.messaging, eventStore: config.EVENTSTORE_URL ? 'eventstoredb' : 'sql' }, 'settle listening');

  let done: Promise<void> | null = null;
  const shutdown = (reason: string) => {
    if (done) return done;
    shuttingDown = true;
    logger.info({ reason }, 'shutting down');
    done = (async () => {
      await http.close();
      await settle.stop();
      logger.info('shutdown complete');
    })();
    return done;
  };
  return { runtime: settle, server: http.server, port, metricsPort, shutdown };
}

async function main(): Promise<void> {
  let config: Config;
  let dev: DevDefaultsOutcome;
  try {
    dev = withDevDefaults(process.env);
    config = loadConfig(dev.env);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof DevDefaultsError) {
      process.stderr.write(`settle: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
  if (dev.report) {
    // names and the path only: the values are secrets
    logger.info(
      { devDefaults: dev.report },
      `embedded dev mode: local dev defaults ${dev.report.created ? 'generated in' : 'read from'} ${dev.report.file} (0600; environment variables override them; SETTLE_DEV_DEFAULTS=off disables). Try it: npm run demo`,
    );
    if (dev.report.permissionsFixed) logger.warn({ file: dev.report.file }, 'the dev defaults file was readable by others: narrowed to 0600');
  } else if (dev.warn) {
    logger.warn({ host: config.HOST, storage: config.storage }, dev.reason);
  }
  const svc = await startService(config, logger);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out, exiting');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      svc.shutdown(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`settle: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
