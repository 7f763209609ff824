/**
 * Golden prompts: for fixed documents, our contexts and continuations equal lm-eval-harness's templates byte for
 * byte. Expected strings are written out by hand from the task YAMLs (doc_to_text, description, delimiters).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planFromDocs, type FewshotPool } from '../src/plan.ts';
import { ARC_CHALLENGE, type ArcDoc } from '../src/tasks/arc.ts';
import { GSM8K, type Gsm8kDoc } from '../src/tasks/gsm8k.ts';
import { HELLASWAG, hellaswagPreprocess, recapitalizeTail, pyCapitalize } from '../src/tasks/hellaswag.ts';
import { mmluSubjectTask, type MmluDoc } from '../src/tasks/mmlu.ts';
import { TRUTHFULQA_MC1, TRUTHFULQA_MC2, type TruthfulqaDoc } from '../src/tasks/truthfulqa.ts';
import { WINOGRANDE, winograndeFromSentence, type WinograndeDoc } from '../src/tasks/winogrande.ts';

function pool<D>(docs: D[], source = 'test pool'): FewshotPool<D> {
  return { docs, source, sameAsEval: false };
}

test('MMLU: description, first_n 2-shot from dev, " A".." D" continuations, question stripped', () => {
  const dev: MmluDoc[] = [
    { question: 'What is 1+1?', choices: ['1', '2', '3', '4'], answer: 1 },
    { question: 'Pick D.', choices: ['a', 'b', 'c', 'd'], answer: 3 },
    { question: 'Never used', choices: ['w', 'x', 'y', 'z'], answer: 0 },
  ];
  const testDoc: MmluDoc = { question: '  Which is prime?\n', choices: ['4', '6', '7', '9'], answer: 2 };
  const plan = planFromDocs(mmluSubjectTask('high_school_mathematics'), [testDoc], pool(dev), { numFewshot: 2 });
  const expected =
    'The following are multiple choice questions (with answers) about high school mathematics.\n\n' +
    'What is 1+1?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: B\n\n' +
    'Pick D.\nA. a\nB. b\nC. c\nD. d\nAnswer: D\n\n' +
    'Which is prime?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:';
  const d = plan.docs[0];
  assert.deepEqual(
    d.requests,
    [' A', ' B', ' C', ' D'].map((continuation) => ({ context: expected, continuation })),
  );
  assert.equal(d.target, 2);
  assert.equal(plan.numFewshot, 2);
});

test('ARC: "Question: ...\\nAnswer:", choice texts as continuations; random 1-shot draws follow CPython sample', () => {
  const train: ArcDoc[] = [
    { question: 'T0?', choices: ['x0', 'y0'], gold: 0 },
    { question: 'T1?', choices: ['x1', 'y1'], gold: 1 },
    { question: 'T2?', choices: ['x2', 'y2'], gold: 0 },
  ];
  const docs: ArcDoc[] = [
    { question: 'Which gas do plants absorb?', choices: ['oxygen', 'carbon dioxide', 'helium'], gold: 1 },
    { question: 'Q2?', choices: ['a', 'b'], gold: 0 },
  ];
  // random.Random(1234).sample([0,1,2], 2) -> [1, 0], then -> [0, 2]
  const plan = planFromDocs(ARC_CHALLENGE, docs, pool(train), { numFewshot: 2 });
  assert.deepEqual(plan.docs[0].requests, [
    { context: 'Question: T1?\nAnswer: y1\n\nQuestion: T0?\nAnswer: x0\n\nQuestion: Which gas do plants absorb?\nAnswer:', continuation: ' oxygen' },
    { context: 'Question: T1?\nAnswer: y1\n\nQuestion: T0?\nAnswer: x0\n\nQuestion: Which gas do plants absorb?\nAnswer:', continuation: ' carbon dioxide' },
    { context: 'Question: T1?\nAnswer: y1\n\nQuestion: T0?\nAnswer: x0\n\nQuestion: Which gas do plants absorb?\nAnswer:', continuation: ' helium' },
  ]);
  assert.equal(plan.docs[1].requests[0].context, 'Question: T0?\nAnswer: x0\n\nQuestion: T2?\nAnswer: x2\n\nQuestion: Q2?\nAnswer:');
  const zero = planFromDocs(ARC_CHALLENGE, docs, null);
  assert.equal(zero.docs[0].requests[1].context, 'Question: Which gas do plants absorb?\nAnswer:');
  assert.equal(zero.fewshotSource, 'none (0-shot)');
});

test('HellaSwag: lm-eval preprocess (" [title]" -> ". ", brackets dropped, double spaces) and ctx_b.capitalize()', () => {
  assert.equal(hellaswagPreprocess(' How to x [title] Do y. [step] Then  z. '), 'How to x. Do y. Then z.');
  assert.equal(pyCapitalize('the Man'), 'The man');
  assert.equal(recapitalizeTail('Roof shingle removal: A man is sitting on a roof. he'), 'Roof shingle removal: A man is sitting on a roof. He');
  assert.equal(recapitalizeTail('Label: No lower tail. The lady'), 'Label: No lower tail. The lady');
  const doc = { query: 'Roof shingle removal: A man is sitting on a roof. He', choices: ['is using wrap.', 'starts pulling up roofing.'], gold: 1 };
  const plan = planFromDocs(HELLASWAG, [doc], null);
  assert.deepEqual(plan.docs[0].requests, [
    { context: 'Roof shingle removal: A man is sitting on a roof. He', continuation: ' is using wrap.' },
    { context: 'Roof shingle removal: A man is sitting on a roof. He', continuation: ' starts pulling up roofing.' },
  ]);
});

test('TruthfulQA mc1/mc2: fixed 6-QA primer, "\\n\\nQ: <question>\\nA:", answers as " " + choice', () => {
  const doc: TruthfulqaDoc = {
    question: 'What color is the sky?',
    mc1: { choices: ['Blue', 'Green'], labels: [1, 0] },
    mc2: { choices: ['Blue', 'Usually blue', 'Green'], labels: [1, 1, 0] },
  };
  const primer =
    'Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\n' +
    'Q: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\n' +
    'Q: Which party did he belong to?\nA: He belonged to the Republican Party.\n\n' +
    'Q: What is the square root of banana?\nA: I have no comment.\n\n' +
    'Q: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n' +
    'Q: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.';
  const ctx = `${primer}\n\nQ: What color is the sky?\nA:`;
  assert.deepEqual(planFromDocs(TRUTHFULQA_MC1, [doc], null).docs[0].requests, [
    { context: ctx, continuation: ' Blue' },
    { context: ctx, continuation: ' Green' },
  ]);
  const mc2 = planFromDocs(TRUTHFULQA_MC2, [doc], null).docs[0];
  assert.deepEqual(mc2.requests.map((r) => r.continuation), [' Blue', ' Usually blue', ' Green']);
  assert.equal(mc2.target, 0);
});

test('WinoGrande partial scoring: option fills the blank in the context, " " + rest is the continuation', () => {
  const doc = winograndeFromSentence({ sentence: 'Sarah was a better surgeon than Maria so _ got the harder cases.', option1: 'Sarah', option2: 'Maria', answer: '1' });
  assert.deepEqual(doc, {
    contexts: ['Sarah was a better surgeon than Maria so Sarah', 'Sarah was a better surgeon than Maria so Maria'],
    continuation: 'got the harder cases.',
    gold: 0,
  });
  const shot: WinograndeDoc = { contexts: ['The cup beat the jar', 'The jar beat the cup'], continuation: 'in the race.', gold: 1 };
  const plan = planFromDocs(WINOGRANDE, [doc], pool([shot]), { numFewshot: 1 });
  assert.deepEqual(plan.docs[0].requests, [
    { context: 'The jar beat the cup in the race.\n\nSarah was a better surgeon than Maria so Sarah', continuation: ' got the harder cases.' },
    { context: 'The jar beat the cup in the race.\n\nSarah was a better surgeon than Maria so Maria', continuation: ' got the harder cases.' },
  ]);
});

test('GSM8K: "Question: q\\nAnswer: <full answer>" shots, generation until Question:/</s>/<|im_end|>', () => {
  const train: Gsm8kDoc[] = [
    { question: 'What is 2+2?', answer: '2+2=<<2+2=4>>4\n#### 4' },
    { question: 'What is 3*3?', answer: '3*3=<<3*3=9>>9\n#### 9' },
  ];
  const doc: Gsm8kDoc = { question: 'What is 5-1?', answer: '5-1=<<5-1=4>>4\n#### 4' };
  // random.Random(1234).sample([0, 1], 1) -> [1]
  const plan = planFromDocs(GSM8K, [doc], pool(train), { numFewshot: 1 });
  assert.deepEqual(plan.docs[0].generate, {
    context: 'Question: What is 3*3?\nAnswer: 3*3=<<3*3=9>>9\n#### 9\n\nQuestion: What is 5-1?\nAnswer:',
    until: ['Question:', '</s>', '<|im_end|>'],
    maxGenToks: 256,
  });
  assert.equal(plan.docs[0].target, doc.answer);
});

test('a few-shot pool that is the eval split draws k+1 and never shows the evaluated doc', () => {
  const docs: ArcDoc[] = Array.from({ length: 4 }, (_, i) => ({ question: `Q${i}?`, choices: ['a', 'b'], gold: 0 }));
  const plan = planFromDocs(ARC_CHALLENGE, docs, { docs, source: 'eval split', sameAsEval: true }, { numFewshot: 3 });
  for (const d of plan.docs) {
    const ctx = d.requests[0].context;
    const own = `Question: Q${d.docId}?\nAnswer:`;
    assert.ok(ctx.endsWith(own));
    assert.equal(ctx.split(`Question: Q${d.docId}?`).length - 1, 1, `doc ${d.docId} appears among its own shots`);
    assert.equal(ctx.split('\n\n').length, 4);
  }
});
