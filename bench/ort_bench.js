// bench/ort_bench.js - ONNX Runtime (npm onnxruntime-node, float32, MLAS) as the
// peer of bench/precision_bench.sh: times one model on random input and prints
// "ort infer MODEL - BATCH THREADS median_ms best_ms runs cpu_ms", the line
// format of bench_engine.c (cpu_ms: median CPU time per call, user + system,
// all of the process' threads; ONNX Runtime's pool threads spin unless
// OMP_WAIT_POLICY=passive, see below).
//
// Usage: node bench/ort_bench.js MODEL.onnx BATCH THREADS SECONDS SIZE
// SIZE is the model's input height and width ([N, 3, SIZE, SIZE]).  Exits 77
// when onnxruntime-node is not installed (npm install --ignore-scripts).
'use strict';
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error('ort_bench: onnxruntime-node not installed (npm install --ignore-scripts): ' + e.message);
  process.exit(77);
}

async function main() {
  const [model, batchS, threadsS, secondsS] = process.argv.slice(2);
  const batch = Number(batchS), threads = Number(threadsS), seconds = Number(secondsS);
  // OMP_WAIT_POLICY=passive (what catdog's OpenMP threads are told on a
  // shared machine) turns off ONNX Runtime's spinning too, so both engines'
  // idle threads sleep: on 2 shared cores a spinning pool measured resnet18
  // batch 1, 2 threads at 84 ms per call against 58 ms without spinning
  const opts = {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if ((process.env.OMP_WAIT_POLICY || '').toLowerCase() === 'passive')
    opts.extra = { session: { intra_op: { allow_spinning: '0' } } };
  const session = await ort.InferenceSession.create(model, opts);
  // catdog's exports take [N, 3, H, W]; onnxruntime-node does not expose input
  // shapes, so the size comes from the command line
  const hw = Number(process.argv[6] || 150);
  const n = batch * 3 * hw * hw;
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; data[i] = (s >>> 8) / 16777216; }
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, [batch, 3, hw, hw]);
  const times = [], cpu = [];
  let start = 0;
  for (let it = 0; ; it++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    await session.run(feeds);
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    const c = process.cpuUsage(c0);
    if (it < 3) { start = Date.now(); continue; }
    times.push(t);
    cpu.push((c.user + c.system) / 1e3);
    if (times.length >= 5 && (Date.now() - start) / 1000 >= seconds) break;
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  console.log(`ort infer ${path.basename(model)} - ${batch} ${threads} ` +
              `${times[times.length >> 1].toFixed(3)} ${times[0].toFixed(3)} ${times.length} ` +
              `${cpu[cpu.length >> 1].toFixed(3)}`);
}

main().catch((e) => { console.error('ort_bench: ' + e.message); process.exit(1); });
