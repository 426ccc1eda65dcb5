/**
 * Process entry point: configuration, runtime, HTTP server, graceful shutdown.
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish, stop background
 * work after its current batch (checkpoints committed), close the database, exit; forced exit
 * after SHUTDOWN_TIMEOUT_MS.
 */
import { systemClock, type Clock } from '../domain/ports/clock';
import type { Server } from 'node:http';
import { ConfigError, loadConfig, type Config } from '../infrastructure/config/config';
import { DevDefaultsError, withDevDefaults, type DevDefaultsOutcome } from '../infrastructure/config/devDefaults';
import { createLogger, type Logger } from '../infrastructure/observability/logger';
import { Runtime } from '../infrastructure/runtime';
import { createApp, createMetricsApp } from './app';
import type { LiveStatusHub } from './live';

export interface RunningService {
  readonly runtime: Runtime;
  readonly server: Server;
  readonly port: number;
  /** The METRICS_PORT listener's port, when there is one. */
  readonly metricsPort: number | null;
  shutdown(reason: string): Promise<void>;
}

/**
 * configure() runs after the runtime is built and before background work starts: consumers must
 * be subscribed before the relay delivers (the in-process bus has no retention).
 */
export async function startService(config: Config, logger: Logger, configure?: (rt: Runtime) => Promise<void>, clock: Clock = systemClock): Promise<RunningService> {
  const runtime = await Runtime.create(config, logger, clock);
  await configure?.(runtime);
  let shuttingDown = false;
  const app = createApp(runtime, { isShuttingDown: () => shuttingDown });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, config.HOST, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 5000;
  let metricsServer: Server | null = null;
  const metricsListen = config.METRICS_PORT;
  if (metricsListen !== undefined) {
    const metricsApp = createMetricsApp(runtime);
    metricsServer = await new Promise<Server>((resolve, reject) => {
      const s = metricsApp.listen(metricsListen, config.METRICS_HOST, (err?: Error) => (err ? reject(err) : resolve(s)));
    });
  }
  runtime.start();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const metricsAddress = metricsServer?.address();
  const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : null;
  const metrics = metricsPort !== null ? `${config.METRICS_HOST}:${metricsPort}${config.METRICS_TOKEN ? ' (bearer token)' : ''}` : config.METRICS_TOKEN ? 'public port, bearer token' : 'off (set METRICS_PORT or METRICS_TOKEN)';
  logger.info({ port, metrics, storage: config.storage, messaging: config.messaging, eventStore: config.EVENTSTORE_URL ? 'eventstoredb' : 'sql' }, 'settle listening');

  let done: Promise<void> | null = null;
  const shutdown = (reason: string) => {
    if (done) return done;
    shuttingDown = true;
    logger.info({ reason }, 'shutting down');
    done = (async () => {
      // open live status streams never finish by themselves: end them so the server can close
      (app.locals.liveHub as LiveStatusHub | undefined)?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      if (metricsServer) {
        const m = metricsServer;
        await new Promise<void>((resolve) => {
          m.close(() => resolve());
          m.closeAllConnections();
        });
      }
      await runtime.stop();
      logger.info('shutdown complete');
    })();
    return done;
  };
  return { runtime, server, port, metricsPort, shutdown };
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
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`settle: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
