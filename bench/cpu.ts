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

interface Sample {
  gateway: number;
  mainThread: number;
  rate: number;
  s3?: number;
  failed: number;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Each case `rounds` times, the cases taking turns, and the median of each figure: on a shared machine
 * the CPU one request costs drifts by a fifth between minutes, and a case measured once would carry
 * whatever the minute was like.
 */
export async function cpuPerRequest(ctx: CpuContext, cases: CpuCase[], rounds: number): Promise<string> {
  // BENCH_CPU_CASES (a word of their names) runs only some, say to profile one.
  const only = process.env.BENCH_CPU_CASES;
  const chosen = cases.filter((k) => !only || k.name.includes(only));
  const samples = new Map<CpuCase, Sample[]>(chosen.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of chosen) samples.get(c)!.push(await measure(ctx, c));
  }
  const lines = chosen.map((c) => {
    const got = samples.get(c)!;
    const gateway = median(got.map((x) => x.gateway));
    const range = `${Math.min(...got.map((x) => x.gateway)).toFixed(3)}–${Math.max(...got.map((x) => x.gateway)).toFixed(3)}`;
    const s3s = got.flatMap((x) => (x.s3 === undefined ? [] : [x.s3]));
    const s3 = s3s.length ? median(s3s) : undefined;
    const was = baseline.cpuMsPerRequest[c.baselineKey];
    const perEntry = c.entries ? ` = ${((gateway * 1000) / c.entries).toFixed(1)} µs per entry` : '';
    const wasText = was === undefined ? '' : ` (baseline ${was.toFixed(3)} ms, ${(gateway / was).toFixed(2)}×)`;
    const s3Text = s3 === undefined ? '' : `; S3 spends ${s3.toFixed(3)} ms on the direct call (gateway/S3 ${(gateway / s3).toFixed(2)})`;
    const failed = got.reduce((n, x) => n + x.failed, 0);
    return `  ${c.name.padEnd(34)} gateway ${gateway.toFixed(3)} ms${perEntry}${wasText} [rounds ${range}] (main thread ${median(got.map((x) => x.mainThread)).toFixed(3)} ms, ${median(got.map((x) => x.rate)).toFixed(0)} req/s)${s3Text}; ${failed} failed\n`;
  });
  return (
    `\nCPU per request of the gateway (${ctx.connections} clients, medians of ${rounds} rounds of ${ctx.seconds} s per case; baseline: ${baseline.recorded}):\n` +
    lines.join('')
  );
}

async function measure(ctx: CpuContext, c: CpuCase): Promise<Sample> {
  const before = await ctx.cpuMs(ctx.gatewayPid);
  const mainBefore = await mainThreadMs(ctx.gatewayPid);
  const through = await ctx.load(ctx.base, [{ method: 'GET', path: c.path }], ctx.auth, ctx);
  const gateway = ((await ctx.cpuMs(ctx.gatewayPid)) - before) / through.requests;
  const mainThread = ((await mainThreadMs(ctx.gatewayPid)) - mainBefore) / through.requests;
  let s3: number | undefined;
  if (c.direct && ctx.s3Pid) {
    const s3Before = await ctx.cpuMs(ctx.s3Pid);
    const direct = await ctx.load(c.direct.origin, [{ method: 'GET', path: `${c.direct.pathname}${c.direct.search}` }], {}, ctx);
    s3 = ((await ctx.cpuMs(ctx.s3Pid)) - s3Before) / direct.requests;
  }
  return { gateway, mainThread, rate: through.requests / ctx.seconds, s3, failed: through.non2xx };
}
