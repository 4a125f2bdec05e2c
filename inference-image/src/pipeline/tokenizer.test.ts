import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidModelError } from '../errors.js';
import { ByteTokenizer, createTokenizer, WordPieceTokenizer } from './tokenizer.js';
import { basicTokenize, WordPiece } from './wordpiece.js';

const vocab = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'a',
  'cat',
  'run',
  '##ning',
  '##s',
  'the',
  'ocean',
  ',',
  '!',
  '猫',
  'cafe',
  'un',
  '##aff',
  '##able',
];
const wp = new WordPiece(vocab, { lowercase: true });
const id = (t: string): number => vocab.indexOf(t);

describe('WordPiece', () => {
  it('splits on whitespace and punctuation, lowercases and strips accents', () => {
    expect(basicTokenize('  Héllo,World!  ', true)).toEqual(['hello', ',', 'world', '!']);
    expect(basicTokenize('Café', false)).toEqual(['Café']);
    expect(basicTokenize('a$b^c', true)).toEqual(['a', '$', 'b', '^', 'c']);
  });

  it('isolates CJK ideographs and drops control characters', () => {
    expect(basicTokenize('a猫cat', true)).toEqual(['a', '猫', 'cat']);
    expect(basicTokenize('a\u0000b\u200bc\td', true)).toEqual(['abc', 'd']);
  });

  it('uses greedy longest-match-first with ## continuations', () => {
    expect(wp.tokenize('running cats')).toEqual(['run', '##ning', 'cat', '##s']);
    expect(wp.tokenize('unaffable')).toEqual(['un', '##aff', '##able']);
    expect(wp.tokenize('CAFÉ!')).toEqual(['cafe', '!']);
  });

  it('maps a word with an unmatchable piece to [UNK] as a whole', () => {
    expect(wp.tokenize('catz ocean')).toEqual(['[UNK]', 'ocean']);
    expect(wp.tokenize('x'.repeat(101))).toEqual(['[UNK]']);
  });

  it('parses vocab files keeping ids by line and requires [UNK]', () => {
    expect(WordPiece.parseVocab('a\nb\r\n\nc\n')).toEqual(['a', 'b', '', 'c']);
    expect(() => new WordPiece(['a'], { lowercase: true })).toThrow(/UNK/);
  });
});

describe('WordPieceTokenizer', () => {
  const tok = new WordPieceTokenizer(wp, 8);

  it('adds [CLS]/[SEP], pads to maxLength and masks the padding', () => {
    const e = tok.encode('The cat!');
    expect(e.ids).toEqual([id('[CLS]'), id('the'), id('cat'), id('!'), id('[SEP]'), 0, 0, 0]);
    expect(e.attentionMask).toEqual([1, 1, 1, 1, 1, 0, 0, 0]);
    expect(e.tokenCount).toBe(5);
    expect(e.truncated).toBe(false);
    expect(e.inputTokens).toBe(5);
  });

  it('truncates long prompts but keeps [SEP] last', () => {
    const e = tok.encode('a a a a a a a a a a');
    expect(e.ids).toHaveLength(8);
    expect(e.ids[7]).toBe(id('[SEP]'));
    expect(e.attentionMask.every((m) => m === 1)).toBe(true);
    expect(e.truncated).toBe(true);
    // Ten words + [CLS] + [SEP], of which 8 were kept: the response reports 12 → 8.
    expect(e).toMatchObject({ tokenCount: 8, inputTokens: 12 });
  });

  it('encodes the empty prompt as [CLS] [SEP] (the unconditional input)', () => {
    expect(tok.encode('').ids.slice(0, 3)).toEqual([id('[CLS]'), id('[SEP]'), id('[PAD]')]);
  });
});

describe('ByteTokenizer (ByT5 convention)', () => {
  const tok = new ByteTokenizer(6);

  it('shifts UTF-8 bytes by 3, appends eos and pads with 0', () => {
    const e = tok.encode('hi');
    expect(e.ids).toEqual([104 + 3, 105 + 3, 1, 0, 0, 0]);
    expect(e.attentionMask).toEqual([1, 1, 1, 0, 0, 0]);
  });

  it('counts multi-byte characters in bytes and truncates', () => {
    const e = tok.encode('猫猫');
    expect(e.ids.slice(0, 3)).toEqual([0xe7 + 3, 0x8c + 3, 0xab + 3]);
    expect(e.ids).toHaveLength(6);
    expect(e.ids[5]).toBe(1);
    expect(e.truncated).toBe(true);
    expect(e).toMatchObject({ tokenCount: 6, inputTokens: 7 });
  });
});

describe('createTokenizer', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-tok-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loads a wordpiece vocab from the model directory', () => {
    fs.writeFileSync(path.join(dir, 'vocab.txt'), `${vocab.join('\n')}\n`);
    const tok = createTokenizer({ type: 'wordpiece', vocabFile: 'vocab.txt', maxLength: 4, lowercase: true }, dir);
    expect(tok.encode('cat').ids).toEqual([id('[CLS]'), id('cat'), id('[SEP]'), 0]);
  });

  it('fails with InvalidModel for a missing vocab or one without special tokens', () => {
    expect(() => createTokenizer({ type: 'wordpiece', vocabFile: 'nope.txt', maxLength: 4, lowercase: true }, dir)).toThrow(InvalidModelError);
    fs.writeFileSync(path.join(dir, 'bad.txt'), '[UNK]\ncat\n');
    expect(() => createTokenizer({ type: 'wordpiece', vocabFile: 'bad.txt', maxLength: 4, lowercase: true }, dir)).toThrow(/\[CLS\]/);
  });

  it('needs no file for the byte tokenizer', () => {
    expect(createTokenizer({ type: 'byte', maxLength: 3 }, '/nonexistent').encode('a').ids).toEqual([100, 1, 0]);
  });
});
