import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** The queue tests' real parts: a redis-server of their own on a free loopback port, and BullMQ. */
const REDIS = '/usr/bin/redis-server';

export interface RedisServer {
  url: string;
  process: ChildProcess;
}

const hasBullmq = await import('bullmq').then(
  () => true,
  () => false,
);

/** Why the queue tests cannot run here ('' when they can). */
export const queueSkipReason = !existsSync(REDIS)
  ? `${REDIS} is not installed (apt-get install redis-server)`
  : !hasBullmq
    ? 'bullmq is not installed (npm install bullmq)'
    : '';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A throwaway redis-server (no persistence) on a free loopback port, ready to accept connections. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, process: child };
}
