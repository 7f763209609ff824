/** Incremental detokenization equals decoding the whole output; stop strings cut the text and hold back no more than needed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataPath, loadTokenizer, missingDataMessage, ByteTokenizer, type TextTokenizer } from '@quantbench/engine';
import { IncrementalDetokenizer, StopChecker } from '../src/detokenizer.ts';

const TEXT = 'Once upon a time, Lily saw a café — naïve “quotes”, emoji 🐱🐶 and 中文字符.\n  Indented line; numbers 3.14159 and 2,048!';

function check(tok: TextTokenizer, what: string) {
  const ids = tok.encode(TEXT, false);
  for (const chunk of [1, 2, 5]) {
    const d = new IncrementalDetokenizer(tok);
    let out = '';
    for (let i = 0; i < ids.length; i += chunk) out += d.push(ids.slice(i, i + chunk));
    assert.equal(out, tok.decode(ids, true), `${what}, ${chunk} token(s) per step`);
  }
}

test('streamed text equals the whole decode: byte tokenizer', () => check(new ByteTokenizer(), 'bytes'));

const llama3 = dataPath('tokenizers/llama-3.1');
test('streamed text equals the whole decode: Llama 3.1 (byte-level BPE, additive fast path)', { skip: llama3 ? false : missingDataMessage('tokenizers/llama-3.1') }, () =>
  check(loadTokenizer(llama3!), 'llama-3.1'));

const stories = dataPath('models/stories260K/hf');
test('streamed text equals the whole decode: stories260K (sentencepiece, windowed)', { skip: stories ? false : missingDataMessage('models/stories260K/hf') }, () =>
  check(loadTokenizer(stories!), 'stories260K'));

test('stop strings: cut before the stop, across pieces; the held-back tail is flushed at the end', () => {
  const s = new StopChecker(['STOP', '\n\n']);
  let out = '';
  for (const p of ['Hello wor', 'ld ST', 'OP and more']) {
    const r = s.add(p);
    out += r.emit;
    if (r.stopped) break;
  }
  assert.equal(out, 'Hello world ');
  const t = new StopChecker(['END']);
  let o2 = t.add('abcdE').emit;
  o2 += t.add('N').emit;
  assert.equal(o2, 'abcd'); // 'EN' may still become 'END'
  o2 += t.flush();
  assert.equal(o2, 'abcdEN');
});
