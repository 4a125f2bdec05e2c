// A few helpers over onnx-proto for writing small ONNX graphs by hand (no Python exporter here).
import onnxProto from 'onnx-proto';
import type { onnx as O } from 'onnx-proto';

// onnx-proto is CommonJS; a named value import is not safe at run time (see stack notes §5).
const { onnx } = onnxProto;

export type Dim = number | string;
export type ElemType = 'float32' | 'int64';

const elemTypes: Record<ElemType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

export function valueInfo(name: string, type: ElemType, shape: Dim[]): O.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: elemTypes[type],
        shape: onnx.TensorShapeProto.create({
          dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}

export function floatTensor(name: string, dims: number[], values: Float32Array): O.ITensorProto {
  if (values.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${values.length} values for dims ${dims.join('x')}`);
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

export function int64Tensor(name: string, values: number[]): O.ITensorProto {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return onnx.TensorProto.create({
    name,
    dims: [values.length],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(data.buffer),
  });
}

type AttrValue = number | number[] | string | { floats: number[] };

function attribute(name: string, value: AttrValue): O.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return { name, type: T.FLOATS, floats: value.floats };
}

export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): O.INodeProto {
  return onnx.NodeProto.create({
    opType,
    input: inputs,
    output: outputs,
    name: `${opType}_${outputs[0] ?? ''}`,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });
}

export interface GraphSpec {
  name: string;
  inputs: O.IValueInfoProto[];
  outputs: O.IValueInfoProto[];
  nodes: O.INodeProto[];
  initializers: O.ITensorProto[];
  docString?: string;
}

/** Serialises a graph as an opset-15 model (IR 8), which onnxruntime 1.x loads. */
export function encodeModel(spec: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'modelrollout-build-model',
    opsetImport: [{ domain: '', version: 15 }],
    docString: spec.docString ?? '',
    graph: onnx.GraphProto.create({
      name: spec.name,
      input: spec.inputs,
      output: spec.outputs,
      node: spec.nodes,
      initializer: spec.initializers,
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}
