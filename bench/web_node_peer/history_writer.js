// bench/web_node_peer/history_writer.js - the Node.js peer's history rows,
// written off the event loop.
//
// better-sqlite3 is synchronous: with synchronous=FULL every INSERT waits for
// the WAL's fsync, and on a cluster worker's main thread that wait would stall
// every other request of the worker (onnxruntime-node also runs inference on
// the main thread).  So each cluster worker starts one worker_thread that owns
// its SQLite connection and inserts the rows it is sent, one transaction per
// row, as catdog's src/web/history_sqlite.c does; the upload is answered once
// its row is committed.
//
// Main thread side: historyWriter(dbFile) -> { add(row) -> Promise<id>, close() }.
// row: [time, sha256, file, name, size, width, height, model, p_dog, label, latency_ms, result].
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

if (isMainThread) {
  module.exports = function historyWriter(dbFile) {
    const thread = new Worker(__filename, { workerData: { dbFile } });
    const pending = new Map();
    let seq = 0;
    thread.on('message', (m) => {
      const p = pending.get(m.seq);
      if (!p) return;
      pending.delete(m.seq);
      if (m.error) p.reject(new Error(m.error));
      else p.resolve(m.id);
    });
    const failAll = (e) => {
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    };
    thread.on('error', failAll);
    thread.on('exit', (code) => failAll(new Error(`the history thread exited (${code})`)));
    // Wait for the thread to have opened the database, so a bad --db fails start-up.
    const ready = new Promise((resolve, reject) => pending.set(0, { resolve, reject }));
    return {
      ready,
      add(row) {
        return new Promise((resolve, reject) => {
          const s = ++seq;
          pending.set(s, { resolve, reject });
          thread.postMessage({ seq: s, row });
        });
      },
      close: () => thread.terminate(),
    };
  };
} else {
  const Database = require('better-sqlite3');
  let insert;
  try {
    const db = new Database(workerData.dbFile, { timeout: 10000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    insert = db.prepare('INSERT INTO predictions(time, sha256, file, name, size, width, height, model, p_dog,' +
                        ' label, latency_ms, result) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)');
    parentPort.postMessage({ seq: 0, id: 0 });
  } catch (e) {
    parentPort.postMessage({ seq: 0, error: `database ${workerData.dbFile}: ${e.message}` });
  }
  parentPort.on('message', ({ seq, row }) => {
    try {
      parentPort.postMessage({ seq, id: Number(insert.run(...row).lastInsertRowid) });
    } catch (e) {
      parentPort.postMessage({ seq, error: e.message });
    }
  });
}
