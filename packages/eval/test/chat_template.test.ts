/**
 * lm-eval's --apply_chat_template / --fewshot_as_multiturn / --system_instruction (lm-eval v0.4.12), which `pnpm eval`
 * refused until this change.
 *
 * How the golden strings are derived by hand from lm-eval's code:
 *   lm_eval/api/task.py ConfigurableTask.fewshot_context builds Messages: a system message only when
 *   maybe_delimit(system_instruction, description, fewshot_delimiter) is non-empty (ARC and gsm8k have no
 *   description); per shot build_qa_turn = user(doc_to_text(shot)) + assistant(answer); the evaluated doc
 *   user(doc_to_text(doc)). fewshot_as_multiturn renders those turns as they are; without it,
 *   lm_eval/api/utils.py multiturn_to_singleturn joins content + delimiter (target " " after a question,
 *   fewshot "\n\n" after an answer, "" after the last) into ONE user message: the plain-text prompt minus the
 *   description. HFLM.apply_chat_template calls the tokenizer's template with add_generation_prompt=True. The
 *   shared llama-3.1 tokenizer's template (tokenizer_config.json) renders, per message,
 *   '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content|trim + '<|eot_id|>', bos_token
 *   ('<|begin_of_text|>') before the first, then '<|start_header_id|>assistant<|end_header_id|>\n\n'.
 *   construct_requests: a multiple-choice continuation is target_delimiter "" + choice under a chat template.
 *   The shots are drawn by Python's random.Random(1234).sample(pool, 2), which orders a 2-doc pool [b, a].
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { dataPath, loadTokenizer, missingDataMessage, REPO_ROOT } from '@quantbench/engine';
import { ARC_CHALLENGE, GSM8K, mmluSubjectTask, planFromDocs, WINOGRANDE, type ArcDoc, type ChatOptions, type Gsm8kDoc, type MmluDoc, type WinograndeDoc } from '@quantbench/lm-eval-ts-shim';
import { main } from '../src/cli.ts';
import { cacheFileName } from '../src/cache.ts';
import { engineAvailable } from '../src/engine_lm.ts';
import { evalFile, readEvalResult, readSamples, samplesFile } from '../src/run_files.ts';

const llama = dataPath('tokenizers/llama-3.1');
const stories = dataPath('models/stories260K/hf');
const FIXTURES = path.join(REPO_ROOT, 'datasets/eval/fixtures');
const H = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
const E = '<|eot_id|>';
const BOS = '<|begin_of_text|>';

function chat(multiturn: boolean): ChatOptions {
  const tok = loadTokenizer(llama as string);
  return { render: (m) => tok.applyChatTemplate(m, true), fewshotAsMultiturn: multiturn };
}

const arcShots: ArcDoc[] = [
  { question: 'Which tool measures temperature?', choices: ['ruler', 'thermometer'], gold: 1 },
  { question: 'What do plants need to make food?', choices: ['sunlight', 'sand'], gold: 0 },
];
const arcDoc: ArcDoc = { question: 'Which is a liquid at room temperature?', choices: ['iron', 'water'], gold: 1 };

test('arc_challenge 2-shot under the llama-3.1 chat template, fewshot_as_multiturn', { skip: llama ? false : missingDataMessage('tokenizers/llama-3.1') }, () => {
  const plan = planFromDocs(ARC_CHALLENGE, [arcDoc], { docs: arcShots, source: 'test', sameAsEval: false }, { numFewshot: 2, chat: chat(true) });
  const ctx =
    BOS +
    H('user') + 'Question: What do plants need to make food?\nAnswer:' + E + H('assistant') + 'sunlight' + E +
    H('user') + 'Question: Which tool measures temperature?\nAnswer:' + E + H('assistant') + 'thermometer' + E +
    H('user') + 'Question: Which is a liquid at room temperature?\nAnswer:' + E + H('assistant');
  assert.deepEqual(plan.docs[0].requests, [
    { context: ctx, continuation: 'iron' },
    { context: ctx, continuation: 'water' },
  ]);
});

test('arc_challenge 2-shot under the llama-3.1 chat template, shots in one user message', { skip: llama ? false : missingDataMessage('tokenizers/llama-3.1') }, () => {
  const plan = planFromDocs(ARC_CHALLENGE, [arcDoc], { docs: arcShots, source: 'test', sameAsEval: false }, { numFewshot: 2, chat: chat(false) });
  const ctx =
    BOS + H('user') +
    'Question: What do plants need to make food?\nAnswer: sunlight\n\n' +
    'Question: Which tool measures temperature?\nAnswer: thermometer\n\n' +
    'Question: Which is a liquid at room temperature?\nAnswer:' + E + H('assistant');
  assert.deepEqual(plan.docs[0].requests.map((r) => [r.context, r.continuation]), [[ctx, 'iron'], [ctx, 'water']]);
  // without a chat template nothing changes: " " + choice, the plain prompt
  const plain = planFromDocs(ARC_CHALLENGE, [arcDoc], { docs: arcShots, source: 'test', sameAsEval: false }, { numFewshot: 2 });
  assert.equal(plain.docs[0].requests[0].continuation, ' iron');
  assert.ok(plain.docs[0].requests[0].context.startsWith('Question: What do plants'));
});

const gsmShots: Gsm8kDoc[] = [
  { question: 'Tom has 2 apples and buys 3 more. How many apples?', answer: 'He has 2 + 3 = 5 apples.\n#### 5' },
  { question: 'A box holds 4 pens. How many pens in 2 boxes?', answer: '2 * 4 = 8 pens.\n#### 8' },
];
const gsmDoc: Gsm8kDoc = { question: 'Sam reads 10 pages a day. How many pages in 3 days?', answer: '10 * 3 = 30\n#### 30' };

test('gsm8k 2-shot under the llama-3.1 chat template, multiturn and single turn, with a system instruction', { skip: llama ? false : missingDataMessage('tokenizers/llama-3.1') }, () => {
  const pool = { docs: gsmShots, source: 'test', sameAsEval: false };
  const multi = planFromDocs(GSM8K, [gsmDoc], pool, { numFewshot: 2, chat: chat(true) });
  assert.equal(
    multi.docs[0].generate?.context,
    BOS +
      H('user') + 'Question: A box holds 4 pens. How many pens in 2 boxes?\nAnswer:' + E + H('assistant') + '2 * 4 = 8 pens.\n#### 8' + E +
      H('user') + 'Question: Tom has 2 apples and buys 3 more. How many apples?\nAnswer:' + E + H('assistant') + 'He has 2 + 3 = 5 apples.\n#### 5' + E +
      H('user') + 'Question: Sam reads 10 pages a day. How many pages in 3 days?\nAnswer:' + E + H('assistant'),
  );
  assert.deepEqual(multi.docs[0].generate?.until, ['Question:', '</s>', '<|im_end|>']);
  const single = planFromDocs(GSM8K, [gsmDoc], pool, { numFewshot: 2, chat: chat(false), systemInstruction: 'Be brief.' });
  assert.equal(
    single.docs[0].generate?.context,
    BOS + H('system') + 'Be brief.' + E +
      H('user') +
      'Question: A box holds 4 pens. How many pens in 2 boxes?\nAnswer: 2 * 4 = 8 pens.\n#### 8\n\n' +
      'Question: Tom has 2 apples and buys 3 more. How many apples?\nAnswer: He has 2 + 3 = 5 apples.\n#### 5\n\n' +
      'Question: Sam reads 10 pages a day. How many pages in 3 days?\nAnswer:' + E + H('assistant'),
  );
});

test('MMLU: the description (and --system_instruction) is the system message; WinoGrande: one chat per context', { skip: llama ? false : missingDataMessage('tokenizers/llama-3.1') }, () => {
  const dev: MmluDoc[] = [{ question: 'What is 1+1?', choices: ['1', '2', '3', '4'], answer: 1 }];
  const doc: MmluDoc = { question: 'Which is prime?', choices: ['4', '6', '7', '9'], answer: 2 };
  const mmlu = mmluSubjectTask('high_school_mathematics');
  const desc = 'The following are multiple choice questions (with answers) about high school mathematics.';
  const plan = planFromDocs(mmlu, [doc], { docs: dev, source: 'dev', sameAsEval: false }, { numFewshot: 1, chat: chat(true), systemInstruction: 'Be brief.' });
  // maybe_delimit("Be brief.", description, "\n\n"); the template trims the system text's trailing "\n\n"
  assert.equal(
    plan.docs[0].requests[0].context,
    BOS + H('system') + 'Be brief.\n\n' + desc + E +
      H('user') + 'What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:' + E + H('assistant') + 'B' + E +
      H('user') + 'Which is prime?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:' + E + H('assistant'),
  );
  assert.deepEqual(plan.docs[0].requests.map((r) => r.continuation), ['A', 'B', 'C', 'D']);
  // plain text (no chat template): the system instruction precedes the description, joined as maybe_delimit does
  const plain = planFromDocs(mmlu, [doc], { docs: dev, source: 'dev', sameAsEval: false }, { numFewshot: 0, systemInstruction: 'Be brief.' });
  assert.ok(plain.docs[0].requests[0].context.startsWith('Be brief.\n\n' + desc + '\n\nWhich is prime?'));

  const shot: WinograndeDoc = { contexts: ['The cup beat the jar', 'The jar beat the cup'], continuation: 'in the race.', gold: 1 };
  const wdoc: WinograndeDoc = { contexts: ['A so Sarah', 'A so Maria'], continuation: 'got it.', gold: 0 };
  const w = planFromDocs(WINOGRANDE, [wdoc], { docs: [shot], source: 'train', sameAsEval: false }, { numFewshot: 1, chat: chat(false) });
  // ConfigurableTask.multiple_input_context: shared shot messages + user(context_i); continuation "" + target
  assert.deepEqual(w.docs[0].requests, ['Sarah', 'Maria'].map((n) => ({
    context: BOS + H('user') + `The jar beat the cup in the race.\n\nA so ${n}` + E + H('assistant'),
    continuation: 'got it.',
  })));
});

test('--apply_chat_template on a checkpoint without a chat template: exit 2, one line naming it, before any work', { skip: stories ? false : missingDataMessage('models/stories260K/hf') }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-chat-'));
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'packages/eval/src/cli.ts'), 'arc_challenge', '--model', stories as string, '--apply_chat_template', '--limit', '1',
      '--data-dir', FIXTURES, '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'c'), '--no-progress'],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /--apply_chat_template: .*stories260K\/hf has no chat template/);
  assert.ok(!fs.existsSync(path.join(dir, 'out')), 'nothing written');
});

test('--fewshot_as_multiturn without --apply_chat_template is refused (as lm-eval)', async () => {
  await assert.rejects(
    main(['arc_challenge', '--model', 'synthetic:tiny', '--fewshot_as_multiturn', '--data-dir', FIXTURES], { loadModel: () => Promise.reject(new Error('loaded')), log: () => {} }),
    /--fewshot_as_multiturn needs --apply_chat_template/,
  );
});

test('the cache key separates chatted from plain answers', { skip: stories ? false : missingDataMessage('models/stories260K/hf') }, () => {
  const id = { model: stories as string, precision: 'fp16' };
  const plain = cacheFileName(id);
  const a = cacheFileName({ ...id, chat: { templateSha: 'a', fewshotAsMultiturn: true } });
  assert.notEqual(plain, a);
  assert.notEqual(a, cacheFileName({ ...id, chat: { templateSha: 'a', fewshotAsMultiturn: false } }));
  assert.notEqual(a, cacheFileName({ ...id, chat: { templateSha: 'b', fewshotAsMultiturn: true } }));
});

const e2eSkip = !engineAvailable() ? 'skipped: engine has no LLM' : !stories ? missingDataMessage('models/stories260K/hf') : false;

test('pnpm eval arc_challenge --limit 1 --apply_chat_template on stories260K with a chat template, end to end', { skip: e2eSkip }, async () => {
  // the checkpoint's files plus a tokenizer_config.json holding a Llama-3-style chat template (fixtures/chat-template)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-chat-e2e-'));
  const model = path.join(dir, 'stories260K-chat');
  fs.mkdirSync(model);
  for (const f of fs.readdirSync(stories as string)) if (f !== 'tokenizer_config.json') fs.symlinkSync(path.join(stories as string, f), path.join(model, f));
  fs.copyFileSync(path.join(REPO_ROOT, 'packages/eval/test/fixtures/chat-template/tokenizer_config.json'), path.join(model, 'tokenizer_config.json'));
  const out = path.join(dir, 'out');
  const logs: string[] = [];
  const argv = (o: string) => ['arc_challenge', '--model', model, '--limit', '1', '--data-dir', FIXTURES, '--out', o, '--cache-dir', path.join(dir, 'c'), '--no-progress'];
  const code = await main([...argv(out), '--apply_chat_template'], { loadModel: (await import('../src/engine_lm.ts')).loadEngineLM, log: (m) => logs.push(m) });
  assert.equal(code, 0, logs.join('\n'));
  const r = readEvalResult(evalFile(out, model, 'fp16'));
  assert.equal(r?.config.applyChatTemplate, true);
  assert.equal(r?.config.fewshotAsMultiturn, true, "lm-eval's default under --apply_chat_template");
  assert.match(r?.config.chatTemplateSha ?? '', /^[0-9a-f]{64}$/);
  assert.equal(r?.results.arc_challenge.numSamples, 1);
  const s = readSamples(samplesFile(out, 'arc_challenge', 'fp16'));
  for (const c of s![0].choices!) assert.ok(Number.isFinite(c.logprob) && c.logprob < 0);
  const lmDir = path.join(out, 'lm-eval');
  const [m] = fs.readdirSync(lmDir);
  const f = fs.readdirSync(path.join(lmDir, m)).find((x) => x.startsWith('results_'))!;
  const lm = JSON.parse(fs.readFileSync(path.join(lmDir, m, f), 'utf8'));
  assert.equal(lm.config.apply_chat_template, true);
  assert.equal(lm.config.fewshot_as_multiturn, true);
  assert.equal(lm.chat_template_sha, r?.config.chatTemplateSha);
  assert.ok(lm.chat_template.includes('<|start_header_id|>'));
  // the chatted requests went to their own cache file, never mixed with a plain run's
  const plainCode = await main(argv(path.join(dir, 'out2')), { loadModel: (await import('../src/engine_lm.ts')).loadEngineLM, log: () => {} });
  assert.equal(plainCode, 0);
  assert.equal(fs.readdirSync(path.join(dir, 'c')).length, 2);
  fs.rmSync(dir, { recursive: true });
});

/** A fake OpenAI-compatible server serving `id`; records the completion requests and answers " 5". */
async function fakeServer(id: string, f: (url: string, bodies: Record<string, unknown>[]) => Promise<void>): Promise<void> {
  const bodies: Record<string, unknown>[] = [];
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/v1/models')) return res.end(JSON.stringify({ data: [{ id, max_model_len: 512 }] }));
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.end(JSON.stringify({ choices: [{ text: ' 5' }] }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await f(`http://127.0.0.1:${(srv.address() as { port: number }).port}/v1/completions`, bodies);
  } finally {
    srv.close();
  }
}

test('--model local-completions --apply_chat_template: rendered here with the served model tokenizer, sent as token ids with one BOS', { skip: stories ? false : missingDataMessage('models/stories260K/hf') }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-chat-remote-'));
  const tokDir = path.join(dir, 'tok');
  fs.mkdirSync(tokDir);
  fs.symlinkSync(path.join(stories as string, 'tokenizer.json'), path.join(tokDir, 'tokenizer.json'));
  fs.copyFileSync(path.join(REPO_ROOT, 'packages/eval/test/fixtures/chat-template/tokenizer_config.json'), path.join(tokDir, 'tokenizer_config.json'));
  const base = (url: string, tok: string, out: string) => ['gsm8k', '--model', 'local-completions', '--base-url', url, '--tokenizer', tok, '--apply_chat_template', '--limit', '1',
    '--num_fewshot', '0', '--data-dir', FIXTURES, '--out', out, '--cache-dir', path.join(dir, 'c'), '--no-progress'];
  await fakeServer('served-chat', async (url, bodies) => {
    const noLoad = { loadModel: () => Promise.reject(new Error('not used')), log: () => {} };
    // the served model's tokenizer has no template: refused before any request is scored
    await assert.rejects(main(base(url, stories as string, path.join(dir, 'o0')), noLoad), /--apply_chat_template: served-chat has no chat template/);
    assert.equal(bodies.length, 0);
    const code = await main(base(url, tokDir, path.join(dir, 'o1')), noLoad);
    assert.equal(code, 0);
    assert.equal(bodies.length, 1);
    const prompt = bodies[0].prompt as number[];
    assert.ok(Array.isArray(prompt), 'token ids');
    assert.equal(prompt[0], 1, 'BOS (<s>) from the template');
    assert.equal(prompt.filter((t) => t === 1).length, 1, 'one BOS');
    const text = loadTokenizer(tokDir).decode(prompt, false);
    // (this sentencepiece-style tokenizer decodes the text after <s> with its prefix space)
    assert.match(text, /^<s> ?<\|start_header_id\|>user<\|end_header_id\|>\n\nQuestion: /);
    assert.ok(text.endsWith('Answer:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'), text);
  });
  fs.rmSync(dir, { recursive: true });
});
