// bench/web_node_peer/server.js - the Node.js peer of bench/web_bench.sh.
//
// What a web developer would build in Node for speed, doing the storage work
// `catdog serve` does for each upload:
//   - node:cluster, N workers (2 by default) behind the primary's round-robin
//     accept; node:http; busboy parses the multipart body (field inputfile).
//   - sharp (libvips) decodes the photo to RGB8 (EXIF orientation applied);
//     the resize to the model's input is Pillow's antialiased bilinear, done
//     here in JavaScript with Pillow's fixed-point arithmetic (as catdog's
//     src/image/image_resize.c does), because libvips' own kernels differ from
//     what the model was trained on by up to 1e-2 in P(dog); then x/255 in
//     float32, NCHW, as `catdog export` expects ([N, 3, H, W], preprocessed).
//   - onnxruntime-node (the root package.json's, installed with
//     --ignore-scripts) runs the network exported by `catdog export`, one
//     intra-op thread per worker.
//   - The photo is kept as <sha256>.<ext> in the upload folder: written to a
//     temporary, fsync'd, renamed, and the folder fsync'd (when the same photo
//     is already there, only the folder is fsync'd), as src/web/store.c does,
//     once the photo has been classified (a photo that does not decode is not kept).
//   - A history row goes into SQLite (better-sqlite3, built from its bundled
//     SQLite source) in WAL mode with synchronous=FULL, one transaction per
//     upload, in catdog's predictions table (src/web/history_sqlite.c), from a
//     worker_thread per cluster worker (history_writer.js), so the WAL's fsync
//     does not stall the event loop; the answer waits for the commit.
//   - The answer is catdog's JSON verdict (docs/API.md): label, p_dog,
//     confidence, probabilities, model, name, sha256, elapsed_ms, width,
//     height, format, id, result_id.
//
// Usage: node server.js --model X.onnx --port P --upload-dir DIR --db FILE
//                       [--workers 2] [--host 127.0.0.1] [--preprocess rescale]
// The primary prints "node peer: N workers listening on HOST:PORT" once every
// worker has loaded the model and listens; GET /healthz answers {"status":"ok"}.
// A worker that dies takes the whole server down (exit status 1): a benchmark
// must not go on measuring half a cluster.
'use strict';
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const path = require('node:path');
const historyWriter = require('./history_writer.js');

const MAX_UPLOAD = 10 * 1024 * 1024; // bytes; larger bodies are answered 413
const MAX_PIXELS = 50 * 1000 * 1000; // sharp refuses larger images before decoding

function parseArgs(argv) {
  const opts = { workers: 2, host: '127.0.0.1', preprocess: 'rescale' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i], val = argv[i + 1];
    if (!key.startsWith('--') || val === undefined) usage(`bad argument '${key}'`);
    const name = key.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!['model', 'port', 'uploadDir', 'db', 'workers', 'host', 'preprocess'].includes(name))
      usage(`unknown option ${key}`);
    opts[name] = val;
  }
  for (const k of ['model', 'port', 'uploadDir', 'db']) if (!opts[k]) usage(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  opts.port = Number(opts.port);
  opts.workers = Number(opts.workers);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage(`bad --port ${opts.port}`);
  if (!Number.isInteger(opts.workers) || opts.workers < 1) usage(`bad --workers ${opts.workers}`);
  // catdog export writes the preprocessing into the ONNX file's metadata_props,
  // which onnxruntime-node does not expose: the caller names it.  The peer serves
  // the binary CNN, trained on x/255.
  if (opts.preprocess !== 'rescale') usage(`--preprocess ${opts.preprocess}: only rescale (x/255) is implemented`);
  return opts;
}

function usage(msg) {
  console.error(`web_node_peer: ${msg}\nusage: node server.js --model X.onnx --port P --upload-dir DIR --db FILE ` +
                '[--workers N] [--host H] [--preprocess rescale]');
  process.exit(2);
}

// The predictions table of catdog's history (src/web/history_sqlite.c, schema version 2).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS predictions(
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, sha256 TEXT NOT NULL, file TEXT NOT NULL,
  name TEXT NOT NULL, size INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
  model TEXT NOT NULL, p_dog REAL NOT NULL, label TEXT NOT NULL CHECK (label IN ('cat','dog')),
  latency_ms REAL NOT NULL, feedback TEXT CHECK (feedback IN ('cat','dog')), feedback_time REAL,
  result TEXT);
CREATE INDEX IF NOT EXISTS predictions_sha256 ON predictions(sha256);
CREATE INDEX IF NOT EXISTS predictions_result ON predictions(result);
CREATE INDEX IF NOT EXISTS predictions_time ON predictions(time);`;


// ---- primary: the folder and the database once, then the workers ----
function primary(opts) {
  fs.mkdirSync(opts.uploadDir, { recursive: true });
  const Database = require('better-sqlite3');
  const db = new Database(opts.db, { timeout: 10000 });
  db.pragma('journal_mode = WAL'); // kept by the file; synchronous=FULL is set per connection (history_writer.js)
  db.exec(SCHEMA);
  db.close();
  let listening = 0, stopping = false;
  for (let i = 0; i < opts.workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === opts.workers)
      console.log(`node peer: ${opts.workers} workers listening on ${opts.host}:${opts.port}`);
  });
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`web_node_peer: worker ${w.process.pid} died (${signal || 'exit ' + code}); stopping`);
    stopping = true;
    for (const id in cluster.workers) cluster.workers[id].kill();
    process.exitCode = 1;
  });
  const stop = () => {
    stopping = true;
    for (const id in cluster.workers) cluster.workers[id].kill();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// ---- Pillow's bilinear resize (Resample.c, 8 bits per channel) ----
const PRECISION_BITS = 32 - 8 - 2;

// For each output pixel along one axis: `first`, `count` and `count` fixed-point
// weights (stride ksize), exactly as Pillow's precompute_coeffs + normalize_coeffs_8bpc.
function resizeAxis(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterscale; // the triangle's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize), count = new Int32Array(outSize);
  const w = new Int32Array(outSize * ksize);
  const tmp = new Float64Array(ksize);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    let lo = Math.trunc(center - support + 0.5), hi = Math.trunc(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > inSize) hi = inSize;
    let n = Math.min(hi - lo, ksize);
    if (n < 1) { lo = Math.min(lo, inSize - 1); n = 1; }
    let sum = 0;
    for (let x = 0; x < n; x++) {
      const t = Math.abs((x + lo - center + 0.5) / filterscale);
      tmp[x] = t < 1 ? 1 - t : 0;
      sum += tmp[x];
    }
    for (let x = 0; x < n; x++) {
      const v = sum !== 0 ? tmp[x] / sum : tmp[x];
      w[i * ksize + x] = Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    first[i] = lo;
    count[i] = n;
  }
  return { ksize, first, count, w };
}

const axisCache = new Map();
function cachedAxis(inSize, outSize) {
  const key = inSize * 65536 + outSize;
  let a = axisCache.get(key);
  if (!a) {
    a = resizeAxis(inSize, outSize);
    if (axisCache.size > 256) axisCache.clear();
    axisCache.set(key, a);
  }
  return a;
}

function clip8(v) {
  return v >= (1 << PRECISION_BITS << 8) ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS;
}

// RGB8 `src` (sw x sh) -> float32 NCHW `dst` (3 x dh x dw) scaled by the float
// nearest 1/255 (Keras' rescale).  Horizontal pass first into 8 bits over the
// rows the vertical pass reads, then the vertical pass, as Pillow does.
const INV255 = Math.fround(1 / 255);
function resizeToInput(src, sw, sh, dw, dh, dst) {
  const needH = sw !== dw, needV = sh !== dh;
  let rows = src, y0 = 0, rowsW = sw;
  const ay = needV ? cachedAxis(sh, dh) : null;
  if (needH) {
    const ax = cachedAxis(sw, dw);
    let yFirst = 0, yLast = sh;
    if (needV) {
      yFirst = sh; yLast = 0;
      for (let y = 0; y < dh; y++) {
        yFirst = Math.min(yFirst, ay.first[y]);
        yLast = Math.max(yLast, ay.first[y] + ay.count[y]);
      }
    }
    rows = new Uint8Array(dw * (yLast - yFirst) * 3);
    const { ksize, first, count, w } = ax;
    const half = 1 << (PRECISION_BITS - 1);
    for (let y = yFirst; y < yLast; y++) {
      const inBase = y * sw * 3, outBase = (y - yFirst) * dw * 3;
      for (let x = 0; x < dw; x++) {
        let s0 = half, s1 = half, s2 = half;
        const wb = x * ksize, n = count[x];
        let p = inBase + first[x] * 3;
        for (let k = 0; k < n; k++, p += 3) {
          const wk = w[wb + k];
          s0 += src[p] * wk; s1 += src[p + 1] * wk; s2 += src[p + 2] * wk;
        }
        const o = outBase + x * 3;
        rows[o] = clip8(s0); rows[o + 1] = clip8(s1); rows[o + 2] = clip8(s2);
      }
    }
    y0 = yFirst;
    rowsW = dw;
  }
  const plane = dw * dh;
  if (!needV) {
    for (let i = 0; i < plane; i++) {
      dst[i] = rows[3 * i] * INV255; dst[plane + i] = rows[3 * i + 1] * INV255; dst[2 * plane + i] = rows[3 * i + 2] * INV255;
    }
    return;
  }
  const { ksize, first, count, w } = ay;
  const stride = rowsW * 3;
  const acc = new Int32Array(stride);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < dh; y++) {
    acc.fill(half);
    const wb = y * ksize, n = count[y];
    for (let k = 0; k < n; k++) {
      const base = (first[y] - y0 + k) * stride, wk = w[wb + k];
      for (let x = 0; x < stride; x++) acc[x] += rows[base + x] * wk;
    }
    const o = y * dw;
    for (let x = 0; x < dw; x++) {
      dst[o + x] = clip8(acc[3 * x]) * INV255;
      dst[plane + o + x] = clip8(acc[3 * x + 1]) * INV255;
      dst[2 * plane + o + x] = clip8(acc[3 * x + 2]) * INV255;
    }
  }
}

// ---- worker ----
function sniff(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}
const EXT = { jpeg: 'jpg', png: 'png', webp: 'webp' };

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
function fail(res, status, code, message) {
  send(res, status, { status, error: { code, message } });
}
const round6 = (v) => Math.round(v * 1e6) / 1e6;

async function worker(opts) {
  const sharp = require('sharp');
  const busboy = require('busboy');
  const ort = require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));
  sharp.concurrency(1); // libvips threads per image: the cluster is the parallelism
  sharp.cache(false);   // every upload is a new photo

  const session = await ort.InferenceSession.create(opts.model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const shape = session.inputMetadata && session.inputMetadata[0] && session.inputMetadata[0].shape;
  if (!shape || shape.length !== 4 || shape[1] !== 3 || !Number.isInteger(shape[2]) || !Number.isInteger(shape[3]))
    throw new Error(`${opts.model}: expected an input [N, 3, H, W] with fixed H and W (catdog export), got ${JSON.stringify(shape)}`);
  const inH = shape[2], inW = shape[3];
  const modelName = path.basename(opts.model, '.onnx');

  const history = historyWriter(opts.db);
  await history.ready;
  const dirHandle = await fsp.open(opts.uploadDir, 'r'); // for fsync of the folder
  const tmpTag = `.tmp-${process.pid}-`;

  async function classify(bytes) {
    const t0 = process.hrtime.bigint();
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_PIXELS })
      .autoOrient().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw Object.assign(new Error(`decoded to ${info.channels} channels`), { status: 422 });
    const x = new Float32Array(3 * inH * inW);
    resizeToInput(data, info.width, info.height, inW, inH, x);
    const out = await session.run({ [inputName]: new ort.Tensor('float32', x, [1, 3, inH, inW]) });
    const p = out[outputName].data[0];
    return { p, width: info.width, height: info.height, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  // tmp + write + fsync + rename + fsync(folder), or only fsync(folder) when it is there.
  async function store(bytes, name) {
    const file = path.join(opts.uploadDir, name);
    try {
      const st = await fsp.stat(file);
      if (st.isFile() && st.size === bytes.length) {
        await dirHandle.sync();
        return;
      }
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    const tmp = path.join(opts.uploadDir, tmpTag + crypto.randomBytes(8).toString('hex') + '-' + name);
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      await fsp.unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await fsp.rename(tmp, file);
    await dirHandle.sync();
  }

  async function predict(res, photo, filename) {
    if (photo.length === 0) return fail(res, 400, 'empty_file', 'the file is empty');
    const fmt = sniff(photo);
    if (!fmt) return fail(res, 415, 'not_an_image', 'the file is not a JPEG, PNG or WebP image');
    const sha = crypto.createHash('sha256').update(photo).digest('hex');
    const file = `${sha}.${EXT[fmt]}`;
    let v;
    try {
      v = await classify(photo);
    } catch (e) {
      return fail(res, e.status || 422, 'corrupt_image', e.message);
    }
    try {
      await store(photo, file); // only photos that decode are kept, as catdog does
    } catch (e) {
      console.error(`web_node_peer: storing an upload: ${e.message}`);
      return fail(res, 507, 'storage_error', 'the photo could not be stored');
    }
    const label = v.p >= 0.5 ? 'dog' : 'cat';
    const resultId = crypto.randomBytes(16).toString('base64url');
    let id = null;
    try {
      id = await history.add([Date.now() / 1000, sha, file, filename, photo.length, v.width, v.height, modelName,
                              v.p, label, v.ms, resultId]);
    } catch (e) {
      console.error(`web_node_peer: recording a prediction: ${e.message}`);
    }
    send(res, 200, {
      label, p_dog: round6(v.p), confidence: round6(label === 'dog' ? v.p : 1 - v.p),
      probabilities: { cat: round6(1 - v.p), dog: round6(v.p) }, model: modelName, name: filename, sha256: sha,
      elapsed_ms: Math.round(v.ms * 1000) / 1000, width: v.width, height: v.height, format: fmt, id,
      result_id: id !== null ? resultId : null,
    });
  }

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, { status: 'ok' });
    if (req.url !== '/api/v1/predict') return fail(res, 404, 'not_found', 'no such route');
    if (req.method !== 'POST') return fail(res, 405, 'method_not_allowed', 'POST a photo as multipart field inputfile');
    let bb;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_UPLOAD } });
    } catch (e) {
      return fail(res, 400, 'bad_request', e.message);
    }
    let photo = null, filename = '', tooBig = false;
    bb.on('file', (field, stream, info) => {
      if (field !== 'inputfile') return stream.resume();
      const chunks = [];
      filename = info.filename || '';
      stream.on('data', (c) => chunks.push(c));
      stream.on('limit', () => { tooBig = true; });
      stream.on('end', () => { photo = Buffer.concat(chunks); });
    });
    bb.on('error', (e) => { if (!res.headersSent) fail(res, 400, 'bad_request', e.message); req.unpipe(bb); req.resume(); });
    bb.on('close', () => {
      if (res.headersSent) return;
      if (tooBig) return fail(res, 413, 'too_large', `the upload is over ${MAX_UPLOAD} bytes`);
      if (!photo) return fail(res, 400, 'no_file', 'no multipart field inputfile');
      predict(res, photo, filename).catch((e) => {
        console.error(`web_node_peer: ${e.stack || e}`);
        if (!res.headersSent) fail(res, 500, 'internal', e.message);
      });
    });
    req.pipe(bb);
  });
  server.keepAliveTimeout = 60000;
  server.listen(opts.port, opts.host);
}

const opts = parseArgs(process.argv.slice(2));
if (cluster.isPrimary) {
  try {
    primary(opts);
  } catch (e) {
    console.error(`web_node_peer: cannot prepare ${opts.uploadDir} and ${opts.db}: ${e.message}`);
    process.exit(1);
  }
} else {
  worker(opts).catch((e) => {
    console.error(`web_node_peer: worker ${process.pid}: ${e.message}`);
    process.exit(1);
  });
}
