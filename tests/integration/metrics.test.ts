import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { idOf, openUpload, signIn, uniqueRoot } from '../support/api.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { runGateway, waitFor } from '../support/processes.js';

/** One sample of a metric with exactly these labels, from Prometheus' text format; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.keys(labels).length === Object.keys(got).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('Prometheus metrics', () => {
  let gw: TestGateway;
  const root = uniqueRoot('metrics');
  beforeAll(async () => {
    gw = await startTestGateway({ store: 'memory', env: { METRICS_ENABLED: 'true' }, users: [{ name: 'meter', root }] });
  });
  afterAll(() => gw.close());
  const scrape = async () =>
    (
      await request(gw.runtime.app)
        .get('/metrics')
        .expect(200)
        .expect('Content-Type', /text\/plain/)
    ).text;

  it('count requests by operation and status, their latency and bytes, and S3 calls by operation', async () => {
    const c = await signIn(gw.runtime.app, 'meter');
    await c.get(`/v2/gateway_metadata_children/${c.rootId}`).expect(200);
    await c.get(`/v2/gateway_metadata/${idOf('missing.txt')}`).expect(404);
    const body = 'x'.repeat(10_000);
    await c
      .post(`/v2/gateway_metadata_file/${c.rootId}`)
      .set('X-Gateway-Upload', JSON.stringify({ 'gateway.metadata.name': 'm.txt', 'gateway.metadata.file.size': body.length }))
      .send(body)
      .expect(200);
    await c.get(`/v2/gateway_file/${idOf('m.txt')}`).expect(200);

    const text = await scrape();
    expect(sample(text, 'gateway_http_requests_total', { operation: 'signIn', method: 'POST', status: '200' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { operation: 'list', method: 'GET', status: '200' })).toBe(1);
    expect(sample(text, 'gateway_http_requests_total', { operation: 'entry', method: 'GET', status: '404' })).toBe(1);
    expect(sample(text, 'gateway_http_request_duration_seconds_count', { operation: 'download' })).toBe(1);
    expect(sample(text, 'gateway_http_request_bytes_total', { operation: 'uploadNew' })).toBeGreaterThanOrEqual(10_000);
    expect(sample(text, 'gateway_http_response_bytes_total', { operation: 'download' })).toBeGreaterThanOrEqual(10_000);
    expect(sample(text, 'gateway_s3_requests_total', { operation: 'ListObjectsV2', outcome: 'ok', endpoint: 'default' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gateway_s3_requests_total', { operation: 'GetObject', outcome: 'ok', endpoint: 'default' })).toBe(1);
    expect(sample(text, 'gateway_s3_request_duration_seconds_count', { operation: 'HeadObject', endpoint: 'default' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gateway_active_uploads')).toBe(0);
    expect(sample(text, 'gateway_process_resident_memory_bytes')).toBeGreaterThan(0);
    // ids and keys never become labels
    expect(text).not.toContain(root.slice(0, -1));
    expect(text).not.toContain(idOf('m.txt'));
  });

  it('show an upload while its body is still arriving', async () => {
    const c = await signIn(gw.runtime.app, 'meter');
    const server = http.createServer(gw.runtime.app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const req = openUpload(`http://127.0.0.1:${port}`, c.token, c.rootId, 'slow.txt', 2000);
    req.write('y'.repeat(1000));
    try {
      let active: number | undefined;
      for (let i = 0; i < 50 && active !== 1; i++) {
        active = sample(await scrape(), 'gateway_active_uploads');
        if (active !== 1) await new Promise((r) => setTimeout(r, 50));
      }
      expect(active).toBe(1);
    } finally {
      req.destroy();
      server.closeAllConnections();
      server.close();
    }
    let after: number | undefined;
    for (let i = 0; i < 50 && after !== 0; i++) {
      after = sample(await scrape(), 'gateway_active_uploads');
      if (after !== 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(after).toBe(0);
  });

  it('are off unless enabled', async () => {
    const plain = await startTestGateway({ store: 'memory' });
    try {
      await request(plain.runtime.app).get('/metrics').expect(404);
    } finally {
      await plain.close();
    }
  });

  it('can be served on a port of their own, and then not on the gateway’s', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gw-metrics-'));
    const gw2 = runGateway({ METRICS_ENABLED: 'true', METRICS_PORT: '0', DATA_DIR: dataDir, DEMO_PASSWORD: 'metrics-password' });
    try {
      const url = await gw2.url();
      await waitFor(() => /metrics listening/.test(gw2.stdout()), 'the metrics port');
      const metricsUrl = /"url":"(http:\/\/[^"]+\/metrics)"/.exec(gw2.stdout())![1]!;
      const own = await fetch(metricsUrl);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('gateway_http_requests_total');
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
    } finally {
      await gw2.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
