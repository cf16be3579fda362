import type { ChildProcess } from 'node:child_process';

export declare const REDIS_HINT: string;
export declare function findRedisServer(): string | undefined;
export declare function freePort(): Promise<number>;
export interface RedisProcess {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}
export declare function startRedisServer(bin: string, port?: number, extraArgs?: string[]): Promise<RedisProcess>;
