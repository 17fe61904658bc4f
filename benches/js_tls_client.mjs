// Client for benches/js_tls_loop.sh, for node (its own OpenSSL, exported symbols) and bun
// (BoringSSL compiled in without symbols): N x POST /v1/messages ("stream": true, ~20 KB
// JSON body) with fetch on one pooled keep-alive connection, each SSE response read to the
// end as a stream. Trust from NODE_EXTRA_CA_CERTS. Prints one JSON line: requests, events,
// elapsed_s, cpu_s (this process, user + system, uprobe traps included), latency_ms_median.
//
//   bun benches/js_tls_client.mjs --base-url https://localhost:PORT --requests 500
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const base = arg('base-url');
const requests = Number(arg('requests', 500));
const bodyBytes = Number(arg('body-bytes', 20480));

function body(i) {
  const head = { model: 'claude-mock-1', max_tokens: 1024, stream: true, messages: [{ role: 'user', content: '' }] };
  const filler = bodyBytes - JSON.stringify(head).length;
  head.messages[0].content = `request ${i}: the quick brown fox jumps over the lazy dog. `.repeat(bodyBytes / 40 + 2).slice(0, Math.max(0, filler));
  return JSON.stringify(head);
}

const bodies = Array.from({ length: requests }, (_, i) => body(i));
const lat = [];
let events = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (const b of bodies) {
  const t = performance.now();
  const r = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-bench', 'anthropic-version': '2023-06-01' },
    body: b,
  });
  if (r.status !== 200) throw new Error(`status ${r.status}`);
  const text = await r.text();
  events += text.split('\n\n').length - 1;
  lat.push(performance.now() - t);
}
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
lat.sort((a, b) => a - b);
console.log(JSON.stringify({
  runtime: typeof Bun !== 'undefined' ? `bun ${Bun.version}` : `node ${process.version}`,
  requests, events, elapsed_s: elapsed, cpu_s: (cpu.user + cpu.system) / 1e6,
  latency_ms_median: lat[Math.floor(lat.length / 2)],
}));
