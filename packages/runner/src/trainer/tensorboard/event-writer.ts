import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { maskedCrc32c } from './crc32c';
import { fileVersionEvent, scalarsEvent, sessionStartEvent } from './event-proto';

/** One TFRecord: u64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data (all little-endian). */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/**
 * A TensorBoard event file of scalars, appended record by record as the run goes (a crash leaves every
 * complete record readable). Each process writes its own file, as TensorBoard expects; a run resumed at
 * step S starts its file with a session START at S, so TensorBoard hides the earlier file's steps from S on.
 */
export class TensorboardWriter {
  readonly path: string;

  constructor(dir: string, startStep = 0, now: () => number = Date.now) {
    mkdirSync(dir, { recursive: true });
    this.now = now;
    const seconds = Math.floor(now() / 1000);
    this.path = join(dir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}`);
    this.append(fileVersionEvent(this.wallTime()));
    if (startStep > 0) this.append(sessionStartEvent(this.wallTime(), startStep));
  }

  private readonly now: () => number;

  private wallTime(): number {
    return this.now() / 1000;
  }

  private append(event: Uint8Array): void {
    appendFileSync(this.path, tfRecord(event));
  }

  /** Finite values only: TensorBoard draws NaN as a gap anyway and a float cannot hold the rest. */
  scalars(step: number, values: Readonly<Record<string, number>>): void {
    const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)));
    if (Object.keys(finite).length > 0) this.append(scalarsEvent(this.wallTime(), step, finite));
  }
}
