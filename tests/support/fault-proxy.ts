import net from 'node:net';

/**
 * A TCP proxy in front of a server, to cause its faults for real: `pass` forwards, `stall` accepts
 * connections and forwards nothing (a server that hangs), `down` refuses new connections and cuts the
 * open ones (a server that stopped). The port stays the same throughout, as a restarted server's would.
 */
export async function faultProxy(target: { host: string; port: number }) {
  let mode: 'pass' | 'stall' | 'down' = 'pass';
  const open = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        open.add(client);
        client.on('close', () => open.delete(client));
        client.on('error', () => undefined);
        if (mode === 'stall') return; // read nothing, answer nothing
        const upstream = net.connect(target.port, target.host);
        open.add(upstream);
        upstream.on('close', () => open.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const cutAll = () => {
    for (const s of open) s.destroy();
    open.clear();
  };
  const closeServer = () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async set(next: 'pass' | 'stall' | 'down') {
      if (mode === 'down' && next !== 'down') await listen();
      if (next === 'down' && mode !== 'down') {
        const closing = closeServer();
        cutAll();
        await closing;
      }
      cutAll(); // a mode holds for every connection, also those already open
      mode = next;
    },
    async close() {
      const closing = closeServer();
      cutAll();
      await closing;
    },
  };
}
