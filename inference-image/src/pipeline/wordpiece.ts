// BERT's WordPiece tokenizer (basic pre-tokenization + greedy longest-match-first), as in
// google-research/bert tokenization.py and Hugging Face BertTokenizer. Used with a vocab.txt.

const MAX_CHARS_PER_WORD = 100;

export interface WordPieceOptions {
  lowercase: boolean;
  unkToken?: string;
}

export class WordPiece {
  private readonly ids: Map<string, number>;
  private readonly unk: string;

  constructor(
    vocab: readonly string[],
    private readonly options: WordPieceOptions,
  ) {
    this.ids = new Map(vocab.map((token, id) => [token, id]));
    this.unk = options.unkToken ?? '[UNK]';
    if (!this.ids.has(this.unk)) throw new Error(`vocab has no ${this.unk} token`);
  }

  static parseVocab(text: string): string[] {
    const lines = text.split(/\r?\n/);
    // A trailing newline is not a token; an empty line in the middle still holds an id.
    if (lines.at(-1) === '') lines.pop();
    return lines;
  }

  idOf(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Text → WordPiece tokens (no special tokens added). */
  tokenize(text: string): string[] {
    return basicTokenize(text, this.options.lowercase).flatMap((word) => this.wordPieces(word));
  }

  tokensToIds(tokens: readonly string[]): number[] {
    const unkId = this.ids.get(this.unk) as number;
    return tokens.map((t) => this.ids.get(t) ?? unkId);
  }

  private wordPieces(word: string): string[] {
    const chars = [...word];
    if (chars.length > MAX_CHARS_PER_WORD) return [this.unk];
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: string | undefined;
      while (start < end) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.ids.has(piece)) {
          found = piece;
          break;
        }
        end--;
      }
      // One unmatchable piece makes the whole word unknown, as in BERT.
      if (found === undefined) return [this.unk];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }
}

/** Cleans, splits on whitespace and punctuation, isolates CJK ideographs, optionally lowercases and strips accents. */
export function basicTokenize(text: string, lowercase: boolean): string[] {
  const cleaned = spaceOutCjk(cleanText(text));
  const words: string[] = [];
  for (let token of cleaned.split(/\s+/u)) {
    if (token === '') continue;
    if (lowercase) token = stripAccents(token.toLowerCase());
    words.push(...splitOnPunctuation(token));
  }
  return words;
}

function cleanText(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    out += /\s/u.test(ch) ? ' ' : ch;
  }
  return out;
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return /\p{Cc}|\p{Cf}/u.test(ch);
}

function stripAccents(text: string): string {
  return text.normalize('NFD').replace(/\p{Mn}/gu, '');
}

function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0) as number;
  // BERT treats all non-alphanumeric ASCII as punctuation, e.g. "$" and "^".
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /\p{P}/u.test(ch);
}

function splitOnPunctuation(token: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const ch of token) {
    if (isPunctuation(ch)) {
      if (current) out.push(current);
      out.push(ch);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) out.push(current);
  return out;
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function spaceOutCjk(text: string): string {
  let out = '';
  for (const ch of text) out += isCjk(ch.codePointAt(0) as number) ? ` ${ch} ` : ch;
  return out;
}
