/**
 * The few protobuf messages of TensorBoard's event files, encoded by hand (tensorflow/core/util/event.proto
 * and framework/summary.proto): Event { double wall_time = 1; int64 step = 2; string file_version = 3;
 * Summary summary = 5; SessionLog session_log = 6 }, Summary { repeated Value value = 1 },
 * Value { string tag = 1; float simple_value = 2 }, SessionLog { SessionStatus status = 1 } (START = 1).
 */
class ProtoWriter {
  private readonly parts: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
    return this;
  }

  key(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }

  bytes(field: number, data: Uint8Array): this {
    this.key(field, 2).varint(data.length);
    for (const b of data) this.parts.push(b);
    return this;
  }

  double(field: number, value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.key(field, 1);
    for (const x of b) this.parts.push(x);
    return this;
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.key(field, 5);
    for (const x of b) this.parts.push(x);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const utf8 = new TextEncoder();

export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).bytes(3, utf8.encode('brain.Event:2')).finish();
}

/** A SessionLog START at `step`: TensorBoard then drops events of earlier files at or after it (a resumed run). */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  const sessionLog = new ProtoWriter().key(1, 0).varint(1).finish();
  return new ProtoWriter().double(1, wallTime).key(2, 0).varint(step).bytes(6, sessionLog).finish();
}

export function scalarsEvent(wallTime: number, step: number, scalars: Readonly<Record<string, number>>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) {
    summary.bytes(1, new ProtoWriter().bytes(1, utf8.encode(tag)).float(2, value).finish());
  }
  return new ProtoWriter().double(1, wallTime).key(2, 0).varint(step).bytes(5, summary.finish()).finish();
}
