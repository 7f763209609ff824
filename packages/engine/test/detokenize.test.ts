/**
 * Issue 20, item 5: `pnpm generate "Once upon"` printed "Once upona time" at eab799f — the completion was decoded
 * alone, dropping the leading space SentencePiece strips from a sequence's first token; per-token `text` in --json
 * dropped it too. Completions are now detokenized incrementally against the prompt (as vLLM and HF do).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { completionText, dataPath, LLM, loadTokenizer, missingDataMessage, tokenTexts } from '@quantbench/engine';

const model = dataPath('models/stories260K/hf');

test('completion text keeps the leading space; per-token texts concatenate to it', { skip: !model && missingDataMessage('models/stories260K/hf') }, async () => {
  const tok = loadTokenizer(model as string, [2], 1);
  const prompt = tok.encode('Once upon', true);
  const full = tok.encode('Once upon a time, there was', true);
  assert.deepEqual(full.slice(0, prompt.length), prompt);
  const ids = full.slice(prompt.length);
  assert.equal(tok.decode(ids, true), 'a time, there was', 'decoded alone, the space is lost (the old behaviour)');
  assert.equal(completionText(tok, prompt, ids), ' a time, there was');
  const per = tokenTexts(tok, prompt, ids);
  assert.equal(per.join(''), ' a time, there was');
  assert.equal(per[0], ' a');

  const llm = await LLM.load({ model: model as string, precision: 'fp32', device: 'cpu' });
  try {
    const [o] = await llm.generate(['Once upon'], { maxTokens: 4 });
    assert.match(o.text, /^ a time/, JSON.stringify(o.text));
  } finally {
    llm.close();
  }
});
