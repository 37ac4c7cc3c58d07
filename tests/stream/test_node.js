// test_node.js: stream protocol tests with npm's `ws` client.
// Env as test_python.py: SANDPIT_STREAM_URL, SANDPIT_API_KEY, SANDPIT_SANDBOX_ID.
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const URL = process.env.SANDPIT_STREAM_URL.replace(/\/$/, '');
const KEY = process.env.SANDPIT_API_KEY;
const SBX = process.env.SANDPIT_SANDBOX_ID;
const headers = { Authorization: 'ApiKey ' + KEY };
const url = (sbx = SBX) => `${URL}/api/v1/sandbox/${sbx}/stream`;

function run(first, { protocols, onOpen, onMessage } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(), protocols, { headers, maxPayload: 0 });
    const msgs = [];
    ws.on('open', () => { ws.send(first); if (onOpen) onOpen(ws); });
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : JSON.parse(data.toString());
      msgs.push(m);
      if (onMessage) onMessage(ws, m);
    });
    ws.on('close', (code, reason) => resolve({ msgs, code, reason: reason.toString(), ws }));
    ws.on('error', reject);
  });
}

const out = (msgs, s = 'stdout') => Buffer.concat(msgs.filter((m) => m.type === s).map((m) =>
  Buffer.from(m.data, m.encoding === 'base64' ? 'base64' : 'utf8')));

const tests = {
  async exec_and_exit() {
    const r = await run(JSON.stringify({ type: 'exec', command: 'echo from-node; exit 7' }));
    if (r.msgs[0].type !== 'started') throw new Error('no started');
    if (out(r.msgs).toString() !== 'from-node\n') throw new Error('stdout ' + out(r.msgs));
    const ex = r.msgs.find((m) => m.type === 'exit');
    if (ex.exit_code !== 7 || r.code !== 1000) throw new Error(JSON.stringify(ex) + r.code);
  },
  async stdin_binary_message_in_json_mode() {
    const r = await run(JSON.stringify({ type: 'exec', command: ['sh', '-c', 'cat | wc -c'] }), {
      onOpen(ws) {
        ws.send(Buffer.alloc(100000, 7)); // binary message = raw stdin in JSON mode
        ws.send(JSON.stringify({ type: 'stdin_close' }));
      },
    });
    if (out(r.msgs).toString().trim() !== '100000') throw new Error('wc ' + out(r.msgs));
  },
  async channel_protocol_5mib_exact() {
    const size = 5 * 1024 * 1024;
    const h = crypto.createHash('sha256');
    let n = 0; let exit = null;
    const first = Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({
      type: 'exec', command: `head -c ${size} /dev/urandom | tee /tmp/.spn-$$ ; sha256sum < /tmp/.spn-$$ >&2; rm /tmp/.spn-$$` }))]);
    let errText = '';
    const r = await run(first, {
      protocols: ['sandpit.channel.v1'],
      onMessage(ws, m) {
        if (m[0] === 1) { h.update(m.subarray(1)); n += m.length - 1; }
        else if (m[0] === 2) errText += m.subarray(1).toString();
        else if (m[0] === 3) { const j = JSON.parse(m.subarray(1)); if (j.type === 'exit') exit = j; }
      },
    });
    if (r.ws.protocol !== 'sandpit.channel.v1') throw new Error('subprotocol ' + r.ws.protocol);
    if (n !== size || h.digest('hex') !== errText.split(' ')[0]) throw new Error(`bytes ${n}`);
    if (!exit || exit.exit_code !== 0) throw new Error('exit ' + JSON.stringify(exit));
  },
  async refused_without_credentials() {
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(url());
      ws.on('unexpected-response', (req, res) => (res.statusCode === 401 ? resolve()
        : reject(new Error('status ' + res.statusCode))));
      ws.on('open', () => reject(new Error('upgraded without credentials')));
      ws.on('error', () => {});
    });
  },
  async server_ping_answered() {
    // ws answers pings itself; a 2 s command must survive and exit cleanly
    const r = await run(JSON.stringify({ type: 'exec', command: 'sleep 2; echo ok' }));
    if (out(r.msgs).toString() !== 'ok\n' || r.code !== 1000) throw new Error('code ' + r.code);
  },
};

(async () => {
  let passed = 0; let failed = 0;
  for (const [name, fn] of Object.entries(tests)) {
    try { await fn(); passed++; console.log('ok   ' + name); }
    catch (e) { failed++; console.log('FAIL ' + name + ': ' + (e.stack || e)); }
  }
  console.log(`node: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
