// Prompt → fixed-length token ids + attention mask, as the text encoder graph expects.
// Always padded to maxLength so a prompt and a negative prompt batch together for guidance.
import fs from 'node:fs';
import path from 'node:path';
import { InvalidModelError } from '../errors.js';
import type { TokenizerConfig } from '../model/manifest.js';
import { WordPiece } from './wordpiece.js';

export interface Encoding {
  ids: number[];
  attentionMask: number[];
  /** Real tokens, special tokens included (the rest is padding). */
  tokenCount: number;
  /** The prompt was longer than maxLength and was cut. */
  truncated: boolean;
  /** Tokens the whole prompt makes, special tokens included (tokenCount when not truncated). */
  inputTokens: number;
}

export interface Tokenizer {
  readonly maxLength: number;
  encode(text: string): Encoding;
}

function pad(tokens: number[], maxLength: number, padId: number, inputTokens: number): Encoding {
  const tokenCount = tokens.length;
  const ids = tokens.concat(new Array<number>(maxLength - tokenCount).fill(padId));
  const attentionMask = new Array<number>(maxLength).fill(0).fill(1, 0, tokenCount);
  return { ids, attentionMask, tokenCount, truncated: inputTokens > tokenCount, inputTokens };
}

/** BERT convention: [CLS] pieces… [SEP] [PAD]…; long prompts keep their head. */
export class WordPieceTokenizer implements Tokenizer {
  private readonly cls: number;
  private readonly sep: number;
  private readonly padId: number;

  constructor(
    private readonly wordPiece: WordPiece,
    readonly maxLength: number,
  ) {
    const need = (token: string): number => {
      const id = wordPiece.idOf(token);
      if (id === undefined) throw new InvalidModelError(`tokenizer vocab has no ${token} token`);
      return id;
    };
    this.cls = need('[CLS]');
    this.sep = need('[SEP]');
    this.padId = need('[PAD]');
  }

  encode(text: string): Encoding {
    const pieces = this.wordPiece.tokensToIds(this.wordPiece.tokenize(text));
    const room = this.maxLength - 2;
    return pad([this.cls, ...pieces.slice(0, room), this.sep], this.maxLength, this.padId, pieces.length + 2);
  }
}

/** ByT5 convention: UTF-8 bytes shifted by 3 (0 pad, 1 eos, 2 unk), then eos. Needs no vocab file. */
export class ByteTokenizer implements Tokenizer {
  static readonly PAD = 0;
  static readonly EOS = 1;
  static readonly OFFSET = 3;

  constructor(readonly maxLength: number) {}

  encode(text: string): Encoding {
    const bytes = new TextEncoder().encode(text);
    const room = this.maxLength - 1;
    const ids = Array.from(bytes.subarray(0, room), (b) => b + ByteTokenizer.OFFSET);
    return pad([...ids, ByteTokenizer.EOS], this.maxLength, ByteTokenizer.PAD, bytes.length + 1);
  }
}

export function createTokenizer(config: TokenizerConfig, modelDir: string): Tokenizer {
  switch (config.type) {
    case 'byte':
      return new ByteTokenizer(config.maxLength);
    case 'wordpiece': {
      const file = path.join(modelDir, config.vocabFile);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (cause) {
        throw new InvalidModelError(`tokenizer.vocabFile: cannot read ${file}`, { cause });
      }
      let wordPiece: WordPiece;
      try {
        wordPiece = new WordPiece(WordPiece.parseVocab(text), { lowercase: config.lowercase });
      } catch (cause) {
        throw new InvalidModelError(`tokenizer.vocabFile ${file}: ${(cause as Error).message}`, { cause });
      }
      return new WordPieceTokenizer(wordPiece, config.maxLength);
    }
  }
}
