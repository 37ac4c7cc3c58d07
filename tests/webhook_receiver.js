#!/usr/bin/env node
// webhook_receiver.js: a local webhook receiver for the integration tests and
// the bench. It verifies every delivery with the production guide's own
// verification function (unchanged but for the TypeScript annotations) and
// records it. Listens on 127.0.0.1 only; prints "port=<n>" when ready.
//
//   POST /hook/<name>             a webhook target; answers per its config
//   POST /_config/<name>          {"secret": "...", "statuses": [500, 200],
//                                  "hang_ms": 0, "hang_times": 0, "trickle_ms": 0}
//   GET  /_received/<name>        [{headers, body, valid, status}] in order
//   GET  /_served/<name>          {"served": n}: requests whose body has
//                                 arrived, answered or not (one in flight)
//   GET  /_count                  {"total": n} over all names (bench)
//
// Statuses are consumed in order; the last one repeats. hang_ms delays the
// answer of the first hang_times requests (a receiver that hangs).
// trickle_ms answers at once with 4 KiB of body, then a byte every 100 ms
// for that long (a receiver that never quite finishes). delay_ms holds every
// answer that long (a receiver that takes its time). Each record has
// "arrived" and "answered": ticks of one counter over all hooks, taken when
// the request's body was in and when the answer went out (order tests).
'use strict';
const http = require('http');
const { createHmac } = require('crypto');

// From the production guide, verbatim apart from the type annotations.
function verifyWebhook(payload, signature, secret) {
  const expected = createHmac('sha256', secret)
    .update(payload)
    .digest('hex');
  return `sha256=${expected}` === signature;
}

const hooks = new Map(); // name -> {cfg, received: [], served: 0}
let total = 0;
let tick = 0;

function hook(name) {
  if (!hooks.has(name)) hooks.set(name, { cfg: { statuses: [200] }, received: [], served: 0 });
  return hooks.get(name);
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const arrived = ++tick;
    const raw = Buffer.concat(chunks).toString('utf8');
    const parts = req.url.split('?')[0].split('/');
    const name = decodeURIComponent(parts[2] || '');
    if (req.method === 'POST' && parts[1] === '_config') {
      const h = hook(name);
      h.cfg = Object.assign({ statuses: [200] }, JSON.parse(raw));
      return send(res, 200, { ok: true });
    }
    if (req.method === 'GET' && parts[1] === '_received') {
      return send(res, 200, hook(name).received);
    }
    if (req.method === 'GET' && parts[1] === '_served') {
      return send(res, 200, { served: hook(name).served });
    }
    if (req.method === 'GET' && parts[1] === '_count') {
      return send(res, 200, { total });
    }
    if (req.method === 'POST' && parts[1] === 'hook') {
      const h = hook(name);
      const n = h.served++;
      const st = h.cfg.statuses;
      const status = st[Math.min(n, st.length - 1)];
      const sig = req.headers['x-sandpit-signature'] || '';
      const valid = h.cfg.secret ? verifyWebhook(raw, sig, h.cfg.secret) : null;
      const answer = () => {
        h.received.push({ headers: req.headers, body: raw, valid, status, at: Date.now(),
                          arrived, answered: ++tick });
        total++;
        send(res, status, { received: true, status });
      };
      if (h.cfg.trickle_ms) {
        h.received.push({ headers: req.headers, body: raw, valid, status, at: Date.now() });
        total++;
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.write('x'.repeat(4096));
        const until = Date.now() + h.cfg.trickle_ms;
        const tick = setInterval(() => {
          if (res.destroyed || Date.now() > until) {
            clearInterval(tick);
            res.end();
            return;
          }
          res.write('y');
        }, 100);
        return;
      }
      if (h.cfg.hang_ms && n < (h.cfg.hang_times || 0)) {
        // Record after the hang: the sender has given up by then; a delivery
        // that timed out is marked so the test can tell it apart.
        setTimeout(() => {
          if (res.destroyed || res.socket === null || res.socket.destroyed) {
            h.received.push({ headers: req.headers, body: raw, valid, status: 'abandoned', at: Date.now() });
            return;
          }
          answer();
        }, h.cfg.hang_ms);
        return;
      }
      if (h.cfg.delay_ms) return setTimeout(answer, h.cfg.delay_ms);
      return answer();
    }
    send(res, 404, { error: 'no such path' });
  });
});

server.keepAliveTimeout = 30000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`port=${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
