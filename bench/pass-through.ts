/**
 * The benchmark's yardstick: the least any Node.js HTTP hop can do. Every request is forwarded to S3 as
 * it came (method, path, headers, so SigV4 signatures still match) and both bodies are piped with
 * backpressure, nothing else. Transfers through it show what one extra Node process in the path costs
 * on the machine the benchmark runs on, next to what the gateway costs.
 *
 * Run as a process of its own with PASS_THROUGH_TARGET=<S3 endpoint>; prints its URL when it listens. Only for
 * an S3 that does not route by Host (the embedded one, RGW, MinIO on loopback): clients sign the proxy's host.
 */
import http from 'node:http';
import { pipeline } from 'node:stream';

const target = new URL(process.env.PASS_THROUGH_TARGET ?? '');
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    pipeline(answer, res, () => undefined);
  });
  upstream.on('error', () => res.destroy());
  pipeline(req, upstream, () => undefined);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
