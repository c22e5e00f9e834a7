// ort_run.js - ONNX Runtime as the independent oracle of tests/onnx/test_onnx_ort.c.
//
// Usage: node ort_run.js MODEL.onnx INPUT.f32 N C H W
// INPUT.f32 holds N*C*H*W little-endian float32 (NCHW, already preprocessed).
// Prints one line per sample: the model's output values, space separated.
// Exits 77 when onnxruntime-node is not installed (npm install --ignore-scripts).
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(process.env.CATDOG_SOURCE_DIR || '.', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.log('SKIP: onnxruntime-node not installed (npm install --ignore-scripts): ' + e.message);
  process.exit(77);
}

async function main() {
  const [model, input, n, c, h, w] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  // Loading validates the graph (ONNX Runtime refuses invalid models).
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
  const out = (await session.run(feeds))[session.outputNames[0]];
  const per = out.data.length / dims[0];
  for (let i = 0; i < dims[0]; i++)
    console.log(Array.from(out.data.slice(i * per, (i + 1) * per)).join(' '));
}

main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
