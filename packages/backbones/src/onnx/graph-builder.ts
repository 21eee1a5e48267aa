import type { OnnxAttribute, OnnxGraph, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto';

export const int = (value: number): OnnxAttribute => ({ kind: 'int', value });
export const ints = (value: readonly number[]): OnnxAttribute => ({ kind: 'ints', value });
export const float = (value: number): OnnxAttribute => ({ kind: 'float', value });

/**
 * Builds an ONNX graph node by node: each call returns the name of the value it produced, so a network is
 * written like its forward pass. Names are made unique by a counter, keeping the given stem readable
 * ("layer1.0.conv1", "layer1.0.conv1_1").
 */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();

  private unique(stem: string): string {
    let name = stem;
    for (let i = 1; this.used.has(name); i++) name = `${stem}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: ReadonlyArray<number | string>): string {
    this.used.add(name);
    this.inputs.push({ name, dims });
    return name;
  }

  /** Marks `value` as a graph output called `name` (through an Identity when the names differ). */
  output(value: string, name: string, dims: ReadonlyArray<number | string>): void {
    const out = value === name ? value : this.op('Identity', [value], {}, name);
    this.outputs.push({ name: out, dims });
  }

  /** A float weight. */
  constant(name: string, data: Float32Array, dims: readonly number[]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims, data });
    return unique;
  }

  scalar(name: string, value: number): string {
    return this.constant(name, Float32Array.of(value), []);
  }

  /** A 1-D int64 tensor (shapes, axes, slice bounds). */
  int64s(name: string, values: readonly number[]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) });
    return unique;
  }

  /** A 0-d int64 tensor (a Gather index that drops its axis). */
  int64Scalar(name: string, value: number): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims: [], data: BigInt64Array.of(BigInt(value)) });
    return unique;
  }

  /** One node with one output, named after `name` (default: the op type). */
  op(opType: string, inputs: readonly string[], attributes: Record<string, OnnxAttribute> = {}, name = opType.toLowerCase()): string {
    const output = this.unique(name);
    this.nodes.push({ name: output, opType, inputs, outputs: [output], attributes });
    return output;
  }

  build(name: string): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs };
  }
}
