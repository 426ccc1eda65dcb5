/**
 * The HTTP listeners of a process: the application on PORT/HOST and, with METRICS_PORT, the
 * /metrics listener; closing them lets in-flight requests finish and ends live status streams.
 * The process entry point (configuration, composition, signals) is main/server.ts.
 */
import type { Server } from 'node:http';
import { createApp, createMetricsApp, type AppServices } from './app';
import type { LiveStatusHub } from './live';

export interface HttpListeners {
  readonly server: Server;
  readonly port: number;
  /** The METRICS_PORT listener's port, when there is one. */
  readonly metricsPort: number | null;
  /** Stops accepting connections, ends live streams, waits for in-flight requests. */
  close(): Promise<void>;
}

export interface ListenOptions {
  readonly port: number;
  readonly host: string;
  readonly metricsPort?: number;
  readonly metricsHost: string;
  readonly isShuttingDown: () => boolean;
}

export async function serveHttp(services: AppServices, opts: ListenOptions): Promise<HttpListeners> {
  const app = createApp(services, { isShuttingDown: opts.isShuttingDown });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 5000;
  let metricsServer: Server | null = null;
  const metricsListen = opts.metricsPort;
  if (metricsListen !== undefined) {
    const metricsApp = createMetricsApp(services);
    metricsServer = await new Promise<Server>((resolve, reject) => {
      const s = metricsApp.listen(metricsListen, opts.metricsHost, (err?: Error) => (err ? reject(err) : resolve(s)));
    });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const metricsAddress = metricsServer?.address();
  const metricsPort = typeof metricsAddress === 'object' && metricsAddress ? metricsAddress.port : null;
  return {
    server,
    port,
    metricsPort,
    async close() {
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
    },
  };
}
