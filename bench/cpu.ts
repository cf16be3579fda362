import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type autocannon from 'autocannon';

/**
 * CPU per request of the gateway process, one kind of request at a time, beside the CPU the S3 server
 * spends on the direct call it stands for (when the benchmark started that server and can see its CPU),
 * and beside the figures recorded in bench/baseline.json (the release before), so a regression shows.
 */

export interface CpuCase {
  name: string;
  /** The gateway's route. */
  path: string;
  /** The S3 call it stands for, as a presigned URL (absent: the route reaches no S3). */
  direct?: URL;
  /** Entries each answer holds: also printed per entry. */
  entries?: number;
  baselineKey: string;
}

export interface CpuContext {
  base: string;
  auth: Record<string, string>;
  gatewayPid: number;
  s3Pid: number | undefined;
  seconds: number;
  connections: number;
  cpuMs(pid: number): Promise<number>;
  load(
    url: string,
    requests: autocannon.Request[],
    headers: Record<string, string>,
    opts: { connections: number; seconds: number },
  ): Promise<{ requests: number; non2xx: number; p50: number }>;
}

interface Baseline {
  recorded: string;
  cpuMsPerRequest: Record<string, number>;
}

/** CPU of the process's main thread alone (the rest: V8's helper threads, mostly the garbage collector's, and libuv's pool). */
async function mainThreadMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const baseline = JSON.parse(readFileSync(new URL('../../bench/baseline.json', import.meta.url), 'utf8')) as Baseline;

export async function cpuPerRequest(ctx: CpuContext, cases: CpuCase[]): Promise<string> {
  const lines: string[] = [];
  // BENCH_CPU_CASES (a word of their names) runs only some, say to profile one.
  const only = process.env.BENCH_CPU_CASES;
  for (const c of cases.filter((k) => !only || k.name.includes(only))) {
    const before = await ctx.cpuMs(ctx.gatewayPid);
    const mainBefore = await mainThreadMs(ctx.gatewayPid);
    const through = await ctx.load(ctx.base, [{ method: 'GET', path: c.path }], ctx.auth, ctx);
    const gateway = ((await ctx.cpuMs(ctx.gatewayPid)) - before) / through.requests;
    const mainThread = ((await mainThreadMs(ctx.gatewayPid)) - mainBefore) / through.requests;
    let s3 = '';
    if (c.direct && ctx.s3Pid) {
      const s3Before = await ctx.cpuMs(ctx.s3Pid);
      const direct = await ctx.load(c.direct.origin, [{ method: 'GET', path: `${c.direct.pathname}${c.direct.search}` }], {}, ctx);
      const perDirect = ((await ctx.cpuMs(ctx.s3Pid)) - s3Before) / direct.requests;
      s3 = `; S3 spends ${perDirect.toFixed(3)} ms on the direct call (gateway/S3 ${(gateway / perDirect).toFixed(2)})`;
    }
    const was = baseline.cpuMsPerRequest[c.baselineKey];
    const perEntry = c.entries ? ` = ${((gateway * 1000) / c.entries).toFixed(1)} µs per entry` : '';
    const wasText = was === undefined ? '' : ` (baseline ${was.toFixed(3)} ms, ${(gateway / was).toFixed(2)}×)`;
    lines.push(
      `  ${c.name.padEnd(34)} gateway ${gateway.toFixed(3)} ms${perEntry}${wasText} (main thread ${mainThread.toFixed(3)} ms, ${(through.requests / ctx.seconds).toFixed(0)} req/s)${s3}; ${through.non2xx} failed\n`,
    );
  }
  return `\nCPU per request of the gateway (${ctx.connections} clients, ${ctx.seconds} s per case; baseline: ${baseline.recorded}):\n` + lines.join('');
}
