// tests/interop/browser/ws_chromium.mjs — weft's WebSocket and SSE server
// against Debian's Chromium, driven by playwright-core (no browser download:
// it launches /usr/bin/chromium).
//
//   node tests/interop/browser/ws_chromium.mjs PORT
//
// PORT: a running build/examples/ws_echo. From a page of its origin, the
// browser's own WebSocket opens /echo (Chromium offers permessage-deflate),
// exchanges text, binary and a large compressible text, and closes cleanly
// with a code (echoed by the server); two sockets meet in /chat; an EventSource reads a
// time event from /events. Ends with "ws_chromium: N passed, N failed".
import { chromium } from 'playwright-core';

const port = process.argv[2];
const base = `http://127.0.0.1:${port}`;
let passed = 0, failed = 0;
const result = (name, ok, why) => {
  if (ok) { passed++; console.log(`  ok   ${name}`); }
  else { failed++; console.log(`  FAIL ${name}: ${why}`); }
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});
try {
  const page = await browser.newPage();
  await page.goto(base + '/');
  const r = await page.evaluate(async () => {
    const out = {};
    const open = (path) => new Promise((res, rej) => {
      const ws = new WebSocket(`ws://${location.host}${path}`);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => res(ws);
      ws.onerror = () => rej(new Error('open failed: ' + path));
    });
    const next = (ws) => new Promise((res) => { ws.onmessage = (e) => res(e.data); });
    const ws = await open('/echo');
    out.extensions = ws.extensions;
    ws.send('hello from chromium');
    out.text = (await next(ws)) === 'hello from chromium';
    const bin = new Uint8Array(70000);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 131 + (i >> 8)) & 255;
    ws.send(bin);
    const back = new Uint8Array(await next(ws));
    out.binary = back.length === bin.length && back.every((v, i) => v === bin[i]);
    const big = 'compress me, chromium '.repeat(5000);
    ws.send(big);
    out.compressible = (await next(ws)) === big;
    const utf8 = 'κόσμε 😀';
    ws.send(utf8);
    out.utf8 = (await next(ws)) === utf8;
    out.close = await new Promise((res) => {
      ws.onclose = (e) => res({ code: e.code, reason: e.reason, clean: e.wasClean });
      ws.close(4001, 'bye from chromium');
    });
    // the room's messages on ws until want (others skipped), or after ms
    // what did not come
    const until = (ws, want, ms = 10000) => new Promise((res) => {
      const t = setTimeout(() => res(`no '${want}' in ${ms} ms`), ms);
      ws.onmessage = (e) => { if (e.data === want) { clearTimeout(t); res(e.data); } };
    });
    const a = await open('/chat'), b = await open('/chat');
    // b is in the room once its own message comes back (the server
    // subscribes a connection after the 101, before it reads from it; a
    // 200 ms pause stood here, short on a loaded machine); a's message
    // below is read by its own server task after a subscribed
    const inRoom = until(b, 'b here');
    b.send('b here');
    const joined = await inRoom;
    const ga = until(a, 'hi room'), gb = until(b, 'hi room');
    a.send('hi room');
    const [sa, sb] = [await ga, await gb];
    out.chat = joined === 'b here' && sa === 'hi room' && sb === 'hi room';
    out.chatWhy = `b's own message: ${joined}; a got: ${sa}; b got: ${sb}`;
    a.close(); b.close();
    out.sse = await new Promise((res) => {
      const es = new EventSource('/events');
      const t = setTimeout(() => { es.close(); res('no event in 5 s'); }, 5000);
      es.onmessage = (e) => { clearTimeout(t); es.close(); res(e.data); };
    });
    return out;
  });
  result('chromium: permessage-deflate negotiated', /permessage-deflate/.test(r.extensions), r.extensions);
  result('chromium: echo text', r.text, '');
  result('chromium: echo binary 70 KB', r.binary, '');
  result('chromium: echo compressible text 110 KB', r.compressible, '');
  result('chromium: echo UTF-8', r.utf8, '');
  // the server echoes the code (RFC 6455 §5.5.1), and the close event reports the server's frame
  result('chromium: clean close, code echoed', r.close.clean && r.close.code === 4001, JSON.stringify(r.close));
  result('chromium: chat room', r.chat, r.chatWhy);
  result('chromium: EventSource gets a time event', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(r.sse), r.sse);
} catch (e) {
  result('chromium: page script', false, String(e));
} finally {
  await browser.close();
}
console.log(`ws_chromium: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
