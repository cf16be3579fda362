import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express from 'express';
import { startupBanner } from './banner.js';
import { ConfigError, loadConfig } from './config.js';
import { metricsHandler } from './http/app.js';
import { createHttpServer } from './http/server.js';
import { createLogger } from './log.js';
import { buildRuntime } from './runtime.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.log);

  let runtime;
  try {
    runtime = await buildRuntime(config, logger);
  } catch (err) {
    // One line a person can act on (bad users file, unreachable Redis, ...), then stop.
    process.stderr.write(`Cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }

  if (!runtime.store.durable) logger.warn('no REDIS_URL: sessions are kept in this process and end when it stops');
  if (runtime.demo) logger.warn('no USERS_FILE: the demo account is enabled and its root is the whole bucket');

  const server = createHttpServer(runtime.app, { maxHeaderBytes: config.limits.maxHeaderBytes });
  server.on('error', (err) => {
    process.stderr.write(`Cannot listen on ${config.host}:${config.port}: ${err.message} (set PORT or HOST)\n`);
    void runtime.close().finally(() => process.exit(1));
  });
  server.listen(config.port, config.host, () => {
    const { port } = server.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    logger.info('listening', { url, s3: runtime.embeddedS3 ? 'embedded' : 'external', sessionStore: runtime.store.kind });
    process.stdout.write(startupBanner(runtime, url));
  });

  // Metrics on a port of their own, e.g. reachable only from the monitoring network.
  let metricsServer: http.Server | undefined;
  if (runtime.metrics && config.metrics.port !== undefined) {
    const metricsApp = express();
    metricsApp.get('/metrics', metricsHandler(runtime.metrics));
    metricsServer = http.createServer(metricsApp);
    metricsServer.on('error', (err) => {
      process.stderr.write(`Cannot listen on ${config.metrics.host}:${config.metrics.port}: ${err.message} (set METRICS_PORT or METRICS_HOST)\n`);
      void runtime.close().finally(() => process.exit(1));
    });
    metricsServer.listen(config.metrics.port, config.metrics.host, () => {
      const { port } = metricsServer!.address() as AddressInfo;
      logger.info('metrics listening', { url: `http://${config.metrics.host}:${port}/metrics` });
    });
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal, graceMs: config.shutdownGraceMs });
    // Stop accepting; idle keep-alive connections go now, busy ones get the grace period.
    server.close();
    server.closeIdleConnections();
    metricsServer?.close();
    metricsServer?.closeAllConnections();
    const force = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
    force.unref();
    server.once('close', () => {
      clearTimeout(force);
      void runtime.close().finally(() => {
        logger.info('stopped');
        logger.on('finish', () => process.exit(0));
        logger.end();
        setTimeout(() => process.exit(0), 500).unref();
      });
    });
  };
  process.on('SIGHUP', () => void runtime.reloadAccounts());
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
