// A worker that sends N GETs to a base URL on the sluice proxy with fetch.
// usage: node worker.mjs URL TOKEN N START_MS [CONCURRENCY]
// Prints: ok=<2xx> other=<non-2xx> end_ms=<epoch ms> codes=[...]
const [url, token, nStr, startStr, cStr] = process.argv.slice(2);
const n = Number(nStr), start = Number(startStr);
const delay = start - Date.now();
if (delay > 0) await new Promise((r) => setTimeout(r, delay));
let ok = 0, other = 0;
const codes = new Set();
let next = 0;
async function loop() {
  while (next < n) {
    const i = next++;
    const r = await fetch(`${url}/items/${i}`, { headers: { Authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    codes.add(r.status);
    if (r.status < 300) ok++; else other++;
  }
}
await Promise.all(Array.from({ length: Number(cStr || 1) }, loop));
console.log(`ok=${ok} other=${other} end_ms=${Date.now()} codes=[${[...codes].sort()}]`);
