#!/usr/bin/env node
// Runs one ONNX model in ONNX Runtime (CPU, the npm package onnxruntime-node that
// tools/setup.sh installs into the git-ignored .ort/ folder) on the inputs of one test data set
// in the ONNX backend test layout, and writes its outputs in the same layout.
//
//   node tools/ort_run.js --model M.onnx --inputs DIR [--outputs DIR] [--repeat N] [--threads N]
//
//   --inputs DIR   DIR/input_0.pb, input_1.pb, ... (serialized onnx.TensorProto), in numeric
//                  order; each is fed under its `name`, an empty name under the session's input
//                  name at the same position
//   --outputs DIR  writes DIR/output_N.pb for the session's outputs, in order, named
//   --expect DIR   compares the outputs with DIR/output_N.pb (the session's outputs, in order):
//                  one line `output <name> max_rel_err=<e> OK|FAIL` each (max |ort - expected| /
//                  max |expected|, OK at <= 1e-4), exit status 1 if any fails
//   --repeat N     one warm-up run, then N timed runs; prints `median_ms=<x> runs=<N>`
//   --threads N    intra-op threads (default 2); inter-op 1, sequential, all graph optimizations
//
// Tensor types: FLOAT, DOUBLE, INT32, INT64, INT8, UINT8, BOOL; others are refused. Errors go
// to stderr, exit status 1 (2 for a bad command line).
'use strict';

const fs = require('fs');
const path = require('path');

const USAGE =
  'usage: node tools/ort_run.js --model M.onnx --inputs DIR [--outputs DIR] [--expect DIR] [--repeat N] [--threads N]\n';

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { threads: 2 };
  const valued = new Set(['--model', '--inputs', '--outputs', '--expect', '--repeat', '--threads']);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    if (!valued.has(arg)) throw new UsageError(`unknown argument ${arg}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    opts[arg.slice(2)] = value;
  }
  if (!opts.model) throw new UsageError('--model is required');
  if (!opts.inputs) throw new UsageError('--inputs is required');
  for (const name of ['repeat', 'threads']) {
    if (opts[name] === undefined) continue;
    const n = Number(opts[name]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}: not a positive integer: ${opts[name]}`);
    opts[name] = n;
  }
  return opts;
}

// ---- onnx.TensorProto, the fields this tool reads and writes ------------------------------
//   1 dims (int64, packed or not)   2 data_type (int32)   4 float_data (packed or not)
//   5 int32_data (packed or not)    7 int64_data          8 name       9 raw_data
//   10 double_data                  14 data_location (EXTERNAL is refused)
// Everything else (segment, doc_string, string_data, ...) is skipped.

const DTYPES = {
  1: { name: 'FLOAT', ort: 'float32', array: Float32Array, width: 4 },
  2: { name: 'UINT8', ort: 'uint8', array: Uint8Array, width: 1 },
  3: { name: 'INT8', ort: 'int8', array: Int8Array, width: 1 },
  6: { name: 'INT32', ort: 'int32', array: Int32Array, width: 4 },
  7: { name: 'INT64', ort: 'int64', array: BigInt64Array, width: 8 },
  9: { name: 'BOOL', ort: 'bool', array: Uint8Array, width: 1 },
  11: { name: 'DOUBLE', ort: 'float64', array: Float64Array, width: 8 },
};
const DTYPE_OF_ORT = {};
for (const [code, d] of Object.entries(DTYPES)) DTYPE_OF_ORT[d.ort] = Number(code);
const DTYPE_NAMES = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32',
  7: 'INT64', 8: 'STRING', 9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64',
  14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};

class Reader {
  constructor(buf, what) {
    this.buf = buf;
    this.pos = 0;
    this.what = what;
  }
  done() {
    return this.pos >= this.buf.length;
  }
  fail(msg) {
    throw new Error(`${this.what}: malformed TensorProto: ${msg} at byte ${this.pos}`);
  }
  varint() {  // as a BigInt, two's complement 64 bits
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
      if (shift > 63n) this.fail('varint longer than 10 bytes');
    }
    return BigInt.asIntN(64, result);
  }
  bytes(n) {
    if (this.pos + n > this.buf.length) this.fail('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  lengthDelimited() {
    return this.bytes(Number(this.varint()));
  }
  skip(wireType) {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.bytes(8);
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 5) this.bytes(4);
    else this.fail(`unsupported wire type ${wireType}`);
  }
}

function decodeTensor(buf, what) {
  const r = new Reader(buf, what);
  const t = { dims: [], dataType: 0, name: '', raw: null, floats: [], int32s: [], int64s: [], doubles: [] };
  let external = false;
  while (!r.done()) {
    const key = Number(r.varint());
    const field = key >>> 3;
    const wire = key & 7;
    const varints = (list, convert) => {  // packed (wire 2) or one at a time (wire 0)
      if (wire === 2) {
        const sub = new Reader(r.lengthDelimited(), what);
        while (!sub.done()) list.push(convert(sub.varint()));
      } else if (wire === 0) {
        list.push(convert(r.varint()));
      } else {
        r.fail(`field ${field} has wire type ${wire}`);
      }
    };
    const fixed = (list, width, wireOne, read) => {
      if (wire === 2) {
        const b = r.lengthDelimited();
        if (b.length % width !== 0) r.fail(`packed field ${field} of ${b.length} bytes`);
        const dv = new DataView(b.buffer, b.byteOffset, b.length);
        for (let i = 0; i < b.length; i += width) list.push(read(dv, i));
      } else if (wire === wireOne) {
        const b = r.bytes(width);
        list.push(read(new DataView(b.buffer, b.byteOffset, width), 0));
      } else {
        r.fail(`field ${field} has wire type ${wire}`);
      }
    };
    switch (field) {
      case 1: varints(t.dims, (v) => Number(v)); break;
      case 2: if (wire !== 0) r.fail('data_type is not a varint'); t.dataType = Number(r.varint()); break;
      case 4: fixed(t.floats, 4, 5, (dv, i) => dv.getFloat32(i, true)); break;
      case 5: varints(t.int32s, (v) => Number(BigInt.asIntN(32, v))); break;
      case 7: varints(t.int64s, (v) => v); break;
      case 8: if (wire !== 2) r.fail('name is not length-delimited'); t.name = r.lengthDelimited().toString('utf8'); break;
      case 9: if (wire !== 2) r.fail('raw_data is not length-delimited'); t.raw = Buffer.from(r.lengthDelimited()); break;
      case 10: fixed(t.doubles, 8, 1, (dv, i) => dv.getFloat64(i, true)); break;
      case 14: if (wire !== 0) r.fail('data_location is not a varint'); external = Number(r.varint()) === 1; break;
      default: r.skip(wire);
    }
  }
  if (external) throw new Error(`${what}: external data (data_location=EXTERNAL) is not supported`);
  return t;
}

// A decoded TensorProto as an onnxruntime Tensor.
function toOrtTensor(ort, t, what) {
  const d = DTYPES[t.dataType];
  if (!d) {
    throw new Error(`${what}: data type ${DTYPE_NAMES[t.dataType] || t.dataType} (${t.dataType}) is not supported ` +
      `(supported: ${Object.values(DTYPES).map((x) => x.name).join(', ')})`);
  }
  const count = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.raw !== null) {
    if (t.raw.length !== count * d.width) {
      throw new Error(`${what}: raw_data has ${t.raw.length} bytes, dims [${t.dims}] of ${d.name} need ${count * d.width}`);
    }
    data = new d.array(count);
    const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.length);
    for (let i = 0; i < count; i++) {
      const o = i * d.width;
      switch (t.dataType) {
        case 1: data[i] = dv.getFloat32(o, true); break;
        case 11: data[i] = dv.getFloat64(o, true); break;
        case 6: data[i] = dv.getInt32(o, true); break;
        case 7: data[i] = dv.getBigInt64(o, true); break;
        case 3: data[i] = dv.getInt8(o); break;
        default: data[i] = dv.getUint8(o);  // UINT8, BOOL
      }
    }
  } else {
    // The typed field of each type (INT8, UINT8 and BOOL live in int32_data).
    const source = { 1: t.floats, 11: t.doubles, 6: t.int32s, 7: t.int64s, 2: t.int32s, 3: t.int32s, 9: t.int32s }[t.dataType];
    if (source.length !== count) {
      throw new Error(`${what}: ${source.length} values in the typed field, dims [${t.dims}] need ${count}`);
    }
    data = d.array.from(source, (v) => (t.dataType === 9 ? (v ? 1 : 0) : v));
  }
  return new ort.Tensor(d.ort, data, t.dims);
}

function encodeVarint(value, out) {  // value: BigInt or Number (negative: 10 bytes)
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
}

// An onnxruntime Tensor as a serialized TensorProto (dims packed, data in raw_data).
function encodeTensor(name, tensor) {
  const code = DTYPE_OF_ORT[tensor.type];
  if (code === undefined) throw new Error(`output ${name}: tensor type ${tensor.type} is not supported`);
  const d = DTYPES[code];
  const head = [];
  const dims = [];
  for (const dim of tensor.dims) encodeVarint(dim, dims);
  if (dims.length > 0) {
    head.push(0x0a);  // field 1, length-delimited (packed)
    encodeVarint(dims.length, head);
    head.push(...dims);
  }
  head.push(0x10);  // field 2, varint
  encodeVarint(code, head);
  const nameBytes = Buffer.from(name, 'utf8');
  head.push(0x42);  // field 8, length-delimited
  encodeVarint(nameBytes.length, head);
  const raw = Buffer.alloc(tensor.data.length * d.width);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  for (let i = 0; i < tensor.data.length; i++) {
    const o = i * d.width;
    const v = tensor.data[i];
    switch (code) {
      case 1: dv.setFloat32(o, v, true); break;
      case 11: dv.setFloat64(o, v, true); break;
      case 6: dv.setInt32(o, v, true); break;
      case 7: dv.setBigInt64(o, BigInt(v), true); break;
      case 3: dv.setInt8(o, v); break;
      default: dv.setUint8(o, v ? (code === 9 ? 1 : v) : 0);
    }
  }
  const rawHead = [0x4a];  // field 9, length-delimited
  encodeVarint(raw.length, rawHead);
  return Buffer.concat([Buffer.from(head), nameBytes, Buffer.from(rawHead), raw]);
}

// ---- running ----------------------------------------------------------------------------------

function loadOrt() {
  const dir = path.join(__dirname, '..', '.ort', 'node_modules', 'onnxruntime-node');
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    throw new Error(`ONNX Runtime is not installed: ${path.normalize(dir)} is missing; ` +
      'run tools/setup.sh (it installs onnxruntime-node into .ort/)');
  }
  try {
    return require(dir);
  } catch (e) {
    throw new Error(`cannot load ${path.normalize(dir)} (re-run tools/setup.sh?): ${e.message}`);
  }
}

function readInputs(ort, dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new Error(`--inputs ${dir}: ${e.message}`);
  }
  const files = names
    .map((f) => /^input_(\d+)\.pb$/.exec(f))
    .filter((m) => m !== null)
    .map((m) => ({ file: m[0], index: Number(m[1]) }))
    .sort((a, b) => a.index - b.index);
  if (files.length === 0) throw new Error(`--inputs ${dir}: no input_N.pb files`);
  files.forEach((f, i) => {
    if (f.index !== i) throw new Error(`--inputs ${dir}: input_${i}.pb is missing (found ${f.file})`);
  });
  return files.map((f) => {
    const where = path.join(dir, f.file);
    const t = decodeTensor(fs.readFileSync(where), where);
    return { name: t.name, where, tensor: toOrtTensor(ort, t, where) };
  });
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ort_run: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    throw e;
  }
  const ort = loadOrt();
  if (!fs.existsSync(opts.model)) throw new Error(`--model ${opts.model}: no such file`);
  const inputs = readInputs(ort, opts.inputs);

  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,  // fatal only: an error comes back in the exception, which is reported below
    });
  } catch (e) {
    throw new Error(`ONNX Runtime refuses ${opts.model}: ${e.message}`);
  }

  const feeds = {};
  inputs.forEach((input, i) => {
    let name = input.name;
    if (name === '') {
      if (i >= session.inputNames.length) {
        throw new Error(`${input.where}: has no name and the model has only ${session.inputNames.length} inputs`);
      }
      name = session.inputNames[i];
    }
    if (!session.inputNames.includes(name)) {
      throw new Error(`${input.where}: '${name}' is not an input of the model (inputs: ${session.inputNames.join(', ')})`);
    }
    if (name in feeds) throw new Error(`${input.where}: input '${name}' is given twice`);
    feeds[name] = input.tensor;
  });
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length > 0) throw new Error(`${opts.inputs}: no data for the model's input(s) ${missing.join(', ')}`);

  const run = async () => {
    try {
      return await session.run(feeds);
    } catch (e) {
      throw new Error(`ONNX Runtime fails to run ${opts.model}: ${e.message}`);
    }
  };
  const results = await run();

  if (opts.outputs) {
    fs.mkdirSync(opts.outputs, { recursive: true });
    session.outputNames.forEach((name, i) => {
      fs.writeFileSync(path.join(opts.outputs, `output_${i}.pb`), encodeTensor(name, results[name]));
    });
  }

  if (opts.expect) {
    let failed = 0;
    session.outputNames.forEach((name, i) => {
      const file = path.join(opts.expect, `output_${i}.pb`);
      if (!fs.existsSync(file)) throw new Error(`--expect ${opts.expect}: no output_${i}.pb for output '${name}'`);
      const want = toOrtTensor(ort, decodeTensor(fs.readFileSync(file), file), file).data;
      const got = results[name].data;
      if (want.length !== got.length) {
        throw new Error(`${file}: ${want.length} elements, ONNX Runtime's '${name}' has ${got.length}`);
      }
      let diff = 0, scale = 0;
      for (let k = 0; k < got.length; k++) {
        const a = Number(got[k]), b = Number(want[k]);
        diff = Math.max(diff, Number.isFinite(a) && Number.isFinite(b) ? Math.abs(a - b) : Infinity);
        scale = Math.max(scale, Math.abs(b));
      }
      const err = scale > 0 ? diff / scale : diff;
      const ok = err <= 1e-4;
      failed += ok ? 0 : 1;
      process.stdout.write(`output ${name} max_rel_err=${err.toExponential(3)} ${ok ? 'OK' : 'FAIL'}\n`);
    });
    if (failed > 0) process.exitCode = 1;
  }

  if (opts.repeat) {  // the run above was the warm-up
    const times = [];
    for (let i = 0; i < opts.repeat; i++) {
      const start = process.hrtime.bigint();
      await run();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    process.stdout.write(`median_ms=${median(times).toFixed(4)} runs=${opts.repeat}\n`);
  }
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`ort_run: error: ${e.message}\n`);
  process.exit(1);
});
