import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LockObserver } from './core/namespace-locks.js';

/**
 * The gateway's Prometheus metrics, in a registry of its own: requests by operation and status, their
 * latency, bytes in and out, S3 calls by operation and outcome with their latency, uploads in progress.
 * Labels are operation names, never ids or keys, so the number of series stays fixed.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'gateway_http_requests_total',
    help: 'HTTP requests answered, by operation, method and status',
    labelNames: ['operation', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'Time from request to the end of the response, by operation',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly bytesIn = new Counter({
    name: 'gateway_http_request_bytes_total',
    help: 'Request body bytes received, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly bytesOut = new Counter({
    name: 'gateway_http_response_bytes_total',
    help: 'Response body bytes sent, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly uploads = new Gauge({
    name: 'gateway_active_uploads',
    help: 'Upload requests (whole files and segments) in progress',
    registers: [this.registry],
  });
  private readonly s3Calls = new Counter({
    name: 'gateway_s3_requests_total',
    help: "Calls to S3, by S3 operation, outcome (ok or the error name) and endpoint (default: the gateway's own S3, else a MOUNTS_FILE endpoint)",
    labelNames: ['operation', 'outcome', 'endpoint'] as const,
    registers: [this.registry],
  });
  private readonly s3Latency = new Histogram({
    name: 'gateway_s3_request_duration_seconds',
    help: 'Time of calls to S3 (retries included), by S3 operation and endpoint',
    labelNames: ['operation', 'endpoint'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  private readonly lockWaiting = new Gauge({
    name: 'gateway_lock_waiting',
    help: 'Writes waiting for another write on the same names to finish',
    registers: [this.registry],
  });
  private readonly lockWaits = new Histogram({
    name: 'gateway_lock_wait_seconds',
    help: 'Time writes waited for their turn, by outcome (granted, or timeout: answered 503)',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });

  /** What the write ordering reports about waiting. */
  readonly locks: LockObserver = {
    waiting: (delta) => this.lockWaiting.inc(delta),
    waited: (seconds, outcome) => this.lockWaits.observe({ outcome }, seconds),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
  }

  request(r: { operation: string; method: string; status: number; seconds: number; bytesIn: number; bytesOut: number }): void {
    this.requests.inc({ operation: r.operation, method: r.method, status: String(r.status) });
    this.latency.observe({ operation: r.operation }, r.seconds);
    if (r.bytesIn > 0) this.bytesIn.inc({ operation: r.operation }, r.bytesIn);
    if (r.bytesOut > 0) this.bytesOut.inc({ operation: r.operation }, r.bytesOut);
  }

  uploadStarted(): () => void {
    this.uploads.inc();
    let ended = false;
    return () => {
      if (!ended) this.uploads.dec();
      ended = true;
    };
  }

  s3Call(operation: string, outcome: string, seconds: number, endpoint = 'default'): void {
    this.s3Calls.inc({ operation, outcome, endpoint });
    this.s3Latency.observe({ operation, endpoint }, seconds);
  }
}
