/** local-completions' HTTP: 429 and 5xx are retried with backoff, a 400 is not, and the last error is reported. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { requestJson } from '../src/openai_lm.ts';

async function withServer(statuses: number[], f: (url: string, hits: () => number) => Promise<void>): Promise<void> {
  let n = 0;
  const srv = http.createServer((req, res) => {
    const status = statuses[Math.min(n++, statuses.length - 1)]!;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { ok: true } : { error: { message: `status ${status}`, type: 'X', param: null, code: status } }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await f(`http://127.0.0.1:${(srv.address() as { port: number }).port}/v1/completions`, () => n);
  } finally {
    srv.close();
  }
}

test('429 then 503 then 200: retried with backoff, the answer comes back', async () => {
  await withServer([429, 503, 200], async (url, hits) => {
    const logs: string[] = [];
    const t0 = Date.now();
    assert.deepEqual(await requestJson(url, { prompt: 'x' }, { maxRetries: 3, log: (m) => logs.push(m) }), { ok: true });
    assert.equal(hits(), 3);
    assert.ok(Date.now() - t0 >= 1400, 'backoff 0.5 s then 1 s');
    assert.equal(logs.length, 2);
  });
});

test('400 is not retried; its message is reported', async () => {
  await withServer([400, 200], async (url, hits) => {
    await assert.rejects(requestJson(url, { prompt: 'x' }, { maxRetries: 3 }), /HTTP 400: status 400/);
    assert.equal(hits(), 1);
  });
});

test('retries run out: the last status is reported with the attempt count', async () => {
  await withServer([500], async (url, hits) => {
    await assert.rejects(requestJson(url, { prompt: 'x' }, { maxRetries: 1 }), /HTTP 500: status 500 \(after 2 attempts\)/);
    assert.equal(hits(), 2);
  });
});
