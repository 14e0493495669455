// A worker thread of the simulator: runs a Pool of users (pool.ts) and
// talks to the main thread through its port (messages.ts).
import { parentPort, workerData } from 'node:worker_threads';
import type { ToWorker, WorkerInit } from './messages.js';
import { Pool } from './pool.js';
import { startDiagnostics } from './diag.js';

const port = parentPort;
if (!port) throw new Error('darklaunch/worker.js runs only as a worker thread');
const pool = new Pool(workerData as WorkerInit, (m) => port.postMessage(m));
port.on('message', (m: ToWorker) => pool.handle(m));
pool.start();
startDiagnostics('simulator-worker');
