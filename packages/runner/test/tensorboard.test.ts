import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TrainerOptions, runConfigSchema } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { makeTinyTrainer, rowWeights } from './tiny-trainer';

/** CRC-32C bit by bit, straight from the polynomial: independent of the writer's table. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function masked(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** Reads every TFRecord, checking both checksums. */
function readRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = Number(view.getBigUint64(at, true));
    expect(view.getUint32(at + 8, true)).toBe(masked(crc32cBitwise(bytes.subarray(at, at + 8))));
    const data = bytes.subarray(at + 12, at + 12 + length);
    expect(view.getUint32(at + 12 + length, true)).toBe(masked(crc32cBitwise(data)));
    records.push(data);
    at += 12 + length + 4;
  }
  expect(at).toBe(bytes.length);
  return records;
}

type Field = { field: number; wire: number; value: bigint | Uint8Array | number };

/** A generic protobuf reader: fields in order, length-delimited ones as bytes. */
function fields(bytes: Uint8Array): Field[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[at++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) {
      out.push({ field, wire, value: view.getFloat64(at, true) });
      at += 8;
    } else if (wire === 5) {
      out.push({ field, wire, value: view.getFloat32(at, true) });
      at += 4;
    } else if (wire === 2) {
      const n = Number(varint());
      out.push({ field, wire, value: bytes.subarray(at, at + n) });
      at += n;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionStatus?: number;
  scalars: Record<string, number>;
}

function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const event: DecodedEvent = { wallTime: 0, step: 0, scalars: {} };
  for (const f of fields(bytes)) {
    if (f.field === 1) event.wallTime = f.value as number;
    else if (f.field === 2) event.step = Number(f.value);
    else if (f.field === 3) event.fileVersion = new TextDecoder().decode(f.value as Uint8Array);
    else if (f.field === 6) event.sessionStatus = Number(fields(f.value as Uint8Array).find((g) => g.field === 1)?.value);
    else if (f.field === 5) {
      for (const v of fields(f.value as Uint8Array)) {
        const value = fields(v.value as Uint8Array);
        const tag = new TextDecoder().decode(value.find((g) => g.field === 1)?.value as Uint8Array);
        event.scalars[tag] = value.find((g) => g.field === 2)?.value as number;
      }
    }
  }
  return event;
}

function eventFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith('events.out.tfevents.'))
    .sort()
    .map((n) => join(dir, n));
}

function makeTrainer(outDir: string, extra: Partial<TrainerOptions> = {}) {
  return makeTinyTrainer(outDir, {
    learningRate: (step) => 0.05 * (1 - step / 20),
    totalSteps: 6,
    checkpointEvery: 3,
    logEvery: 2,
    quality: rowWeights,
    monitor: { every: 3, run: async (step) => ({ 'knn-top1': 0.25 + step / 100 }) },
    ...extra,
  });
}

describe('TensorBoard event files', () => {
  it('the checksum matches the published CRC-32C check values', () => {
    const ascii = new TextEncoder().encode('123456789');
    expect(crc32cBitwise(ascii)).toBe(0xe3069283);
    expect(crc32cBitwise(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32cBitwise(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });

  it('hold the metrics.jsonl scalars and quality-weight statistics, framed and checksummed; a resume starts a session at its step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'genview-tensorboard-'));
    const first = await makeTrainer(dir, { totalSteps: 3 });
    await first.trainer.run();
    first.trainer.dispose();
    first.framework.dispose();
    // Event files are named by the second they were opened: the resumed run's must sort after.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await makeTrainer(dir);
    second.trainer.resume();
    await second.trainer.run();
    second.trainer.dispose();
    second.framework.dispose();

    const files = eventFiles(dir);
    expect(files.length).toBe(2);
    const [a, b] = files.map((f) => readRecords(readFileSync(f)).map(decodeEvent));
    expect(a[0].fileVersion).toBe('brain.Event:2');
    expect(b[0].fileVersion).toBe('brain.Event:2');
    expect(b[1]).toMatchObject({ step: 3, sessionStatus: 1 });
    expect(a.every((e) => e.wallTime > 1.7e9 && e.wallTime < 1e10)).toBe(true);

    // (Debian has no python3-tensorboard package, so this independent reader is the check.)
    // Every metrics.jsonl value is in the event files at its step, under its tag (monitor ones prefixed).
    const byStep = new Map<number, Record<string, number>>();
    for (const e of [...a, ...b].filter((e) => Object.keys(e.scalars).length > 0)) byStep.set(e.step, { ...byStep.get(e.step), ...e.scalars });
    const records = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    expect(records.length).toBeGreaterThan(3);
    for (const { step, epoch: _epoch, split, ...values } of records) {
      for (const [key, value] of Object.entries(values)) {
        const tag = split ? `${split}/${key}` : key;
        // Event scalars are float32: the value rounded once, whatever its magnitude (img/s runs into the thousands).
        expect(byStep.get(step as number)?.[tag], `${tag} at step ${step}`).toBe(Math.fround(value as number));
      }
    }
    expect(Object.keys(byStep.get(2) ?? {}).sort()).toEqual(
      ['imagesPerSecond', 'loss', 'lr', 'quality/weight_max', 'quality/weight_mean', 'quality/weight_min', 'quality/weight_std'].concat(
        'gradNorm' in (records[0] as object) ? ['gradNorm'] : [],
      ).sort(),
    );
    expect(byStep.get(6)?.['monitor/knn-top1']).toBeCloseTo(0.31, 6);
    // Row weights (i + 1) / 8.5 for i < 16: mean 1, min 1/8.5, max 16/8.5.
    expect(byStep.get(2)?.['quality/weight_mean']).toBeCloseTo(1, 5);
    expect(byStep.get(2)?.['quality/weight_min']).toBeCloseTo(1 / 8.5, 5);
    expect(byStep.get(2)?.['quality/weight_max']).toBeCloseTo(16 / 8.5, 5);
    expect(byStep.get(2)?.['quality/weight_std']).toBeCloseTo(Math.sqrt((16 * 16 - 1) / 12) / 8.5, 5);

  });

  it('are off with tensorboard: false (trainer.tensorboard in a run config)', async () => {
    expect(runConfigSchema.parse({}).trainer.tensorboard).toBe(true);
    expect(runConfigSchema.parse({ trainer: { tensorboard: false } }).trainer.tensorboard).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'genview-tensorboard-off-'));
    const run = await makeTrainer(dir, { totalSteps: 2, tensorboard: false });
    await run.trainer.run();
    run.trainer.dispose();
    run.framework.dispose();
    expect(eventFiles(dir)).toEqual([]);
  });
});
