/**
 * Word-level evidence for the semantic verifier. Sentence embeddings blur exactly the
 * details that change an answer: another city, another number, a negation, another kind of
 * question. This module reads those details from the two texts so the verifier can weigh
 * them against the embedding similarity. Pure and cheap (tens of µs per pair).
 */
import { wordSurprisal } from './surprisal.js';

export interface Word {
  /** The word as written. */
  text: string;
  /** Lower-cased, light-stemmed form used for matching. */
  stem: string;
  /** How unexpected the word is (−log unigram probability); rare words carry the meaning. */
  surprisal: number;
  /** Starts with a capital letter and is not the sentence's first word: likely a name. */
  name: boolean;
}

export interface TextProfile {
  /** Content words (stop words, question words and negations removed), in order. */
  words: Word[];
  /** Numbers written as digits or as number words up to twenty, normalised ("two" → "2"). */
  numbers: string[];
  /** Count of negations ("not", "n't", "never", "without" …); compared as present or absent. */
  negations: number;
  /** The kind of question asked, when the text says ("why", "when", "quantity" …). */
  questionKind: string | undefined;
  /** Comparison / superlative / modal markers that change an answer's direction. */
  markers: string[];
}

const STOP_WORDS = new Set(
  (
    'a an the is are was were be been being am do does did doing have has had having i me my mine myself we us ' +
    'our ours you your yours he him his she her hers it its they them their theirs this that these those there ' +
    'here of to in on at by for with from into onto about as than then so such too very just also and or but if ' +
    'because while until can could would should will shall may might must get gets got getting some any all ' +
    'each every other another one ones someone something anyone anything what which how why when where who whom ' +
    'whose whats hows whys whos wheres whens s t ll ve re d m up out over own same both again further once only ' +
    'please kindly tell explain know let way ways thing things really actually much many more most quite'
  ).split(' '),
);

const NEGATIONS = new Set([
  'not',
  'no',
  'never',
  'without',
  'none',
  'nobody',
  'nothing',
  'neither',
  'nor',
  'cannot',
  'nowhere',
]);

/**
 * Question kinds. "what", "which" and "how" are one kind on purpose: "What is the best way to
 * learn X?" and "How do I learn X?" ask the same; "why" and "how" do not.
 */
const QUESTION_KIND: Record<string, string> = {
  why: 'reason',
  when: 'time',
  where: 'place',
  who: 'person',
  whom: 'person',
  whose: 'person',
};

/**
 * Words that flip an answer's direction, by pair: "best X" and "worst X" want different answers.
 * A marker on one side clashes when the other side has its opposite but not the marker itself.
 */
const OPPOSITES: Array<[string, string]> = [
  ['best', 'worst'],
  ['better', 'worse'],
  ['most', 'least'],
  ['more', 'less'],
  ['more', 'fewer'],
  ['before', 'after'],
  ['advantage', 'disadvantage'],
  ['pro', 'con'],
  ['increase', 'decrease'],
  ['buy', 'sell'],
  ['male', 'female'],
  ['men', 'women'],
  ['man', 'woman'],
  ['boy', 'girl'],
  ['past', 'future'],
  ['last', 'next'],
  ['cheapest', 'expensive'],
  ['win', 'lose'],
  ['import', 'export'],
  ['love', 'hate'],
  ['start', 'stop'],
];

/** Superlatives narrow a question ("laptop" vs "best laptop"): present on one side only is a clash. */
const SUPERLATIVES = ['best', 'worst', 'cheapest', 'most', 'least', 'fastest', 'easiest', 'biggest', 'top'];

const MARKER_STEMS = new Set([...OPPOSITES.flat(), ...SUPERLATIVES].map((w) => stemWord(w)));
const OPPOSITE_STEMS = OPPOSITES.map(([x, y]) => [stemWord(x), stemWord(y)] as const);
const SUPERLATIVE_STEMS = SUPERLATIVES.map((w) => stemWord(w));

const NUMBER_WORDS: Record<string, string> = {
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
  eleven: '11',
  twelve: '12',
  thirteen: '13',
  fourteen: '14',
  fifteen: '15',
  sixteen: '16',
  seventeen: '17',
  eighteen: '18',
  nineteen: '19',
  twenty: '20',
  first: '1',
  second: '2',
  third: '3',
};

// Letters (with inner apostrophes and dots, for "don't", "U.S."), or numbers ("1.5", "10,000", "30k").
const TOKEN = /[\p{L}][\p{L}\p{M}'’]*(?:\.[\p{L}]+)*|\d+(?:[.,]\d+)*[\p{L}]*/gu;

/** Reads the evidence out of one text. */
export function profileText(text: string): TextProfile {
  const words: Word[] = [];
  const numbers: string[] = [];
  const markers: string[] = [];
  let negations = 0;
  let questionKind: string | undefined;
  let position = 0;
  // A name is a capitalised word that does not start a sentence or a clause.
  let sentenceStart = true;
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const raw = match[0];
    const gap = text.slice(last, match.index);
    last = match.index + raw.length;
    if (/[.?!:;"(\n]/.test(gap)) sentenceStart = true;
    const startsSentence = sentenceStart || position === 0;
    sentenceStart = false;
    position++;
    if (/^\d/.test(raw)) {
      // "1) … 2) …" numbers a list; it is not a number the answer depends on.
      if (text[last] !== ')') numbers.push(normaliseNumber(raw));
      continue;
    }
    let lower = raw.toLowerCase().replace(/’/g, "'");
    if (lower.endsWith("n't")) {
      negations++;
      lower = lower.slice(0, -3);
    } else if (lower.endsWith("'s") || lower.endsWith("'d") || lower.endsWith("'m")) {
      lower = lower.slice(0, -2);
    } else if (lower.endsWith("'re") || lower.endsWith("'ve") || lower.endsWith("'ll")) {
      lower = lower.slice(0, -3);
    }
    lower = lower.replace(/'/g, '');
    if (NEGATIONS.has(lower)) {
      // "No, …" answers a question; it does not negate what follows.
      const answerParticle = lower === 'no' && startsSentence && text[last] === ',';
      if (!answerParticle) negations++;
      continue;
    }
    // A question word counts only where a question starts ("Why …", "In which …"), not
    // inside a statement ("… when iterating").
    const asks = startsSentence || position <= 2;
    const kind = QUESTION_KIND[lower];
    if (kind !== undefined) {
      if (asks) questionKind ??= kind;
      continue;
    }
    if (lower === 'how') {
      // "how many" / "how much" ask for a quantity, "how long" for a duration.
      const next = /^\s+(\w+)/.exec(text.slice(last))?.[1]?.toLowerCase();
      if (asks)
        questionKind ??=
          next === 'many' || next === 'much' ? 'quantity' : next === 'long' ? 'duration' : 'open';
      continue;
    }
    if (lower === 'what' || lower === 'which') {
      if (asks) questionKind ??= 'open';
      continue;
    }
    const numberWord = NUMBER_WORDS[lower];
    if (numberWord !== undefined && lower !== 'one' && lower !== 'second') {
      numbers.push(numberWord);
      continue;
    }
    const stem = stemWord(lower);
    if (MARKER_STEMS.has(stem)) markers.push(stem);
    if (STOP_WORDS.has(lower) || lower.length === 0) continue;
    const capitalised = /^\p{Lu}/u.test(raw);
    words.push({ text: raw, stem, surprisal: wordSurprisal(raw), name: capitalised && !startsSentence });
  }
  return { words, numbers, negations, questionKind, markers };
}

function normaliseNumber(raw: string): string {
  // "10,000" and "10000" are the same number; "30k" keeps its suffix; "1.50" → "1.5".
  let n = raw.toLowerCase().replace(/,(?=\d{3}\b)/g, '');
  if (/^\d+\.\d*0$/.test(n)) n = n.replace(/0+$/, '').replace(/\.$/, '');
  return n;
}

/**
 * A light suffix stripper (plural, -ing, -ed, -ly, -ies): enough to match "places" with
 * "place" and "training" with "train" without a dictionary. Over-stemming is harmless here
 * because both sides go through the same function.
 */
export function stemWord(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  else if (w.length > 4 && w.endsWith('ly')) w = w.slice(0, -2);
  else if (w.length > 4 && /(ss|sh|ch|x)es$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) {
    w = w.slice(0, -1);
  }
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  // "stopp(ing)" → "stop"
  if (w.length > 3 && w[w.length - 1] === w[w.length - 2] && !/[aeiousl]/.test(w[w.length - 1])) {
    w = w.slice(0, -1);
  }
  return w;
}

/** The comparison of two profiles the verifier scores. All values are ≥ 0. */
export interface LexicalEvidence {
  /** The two texts mention different numbers (as multisets). */
  numberMismatch: number;
  /** One text has a negation and the other has none. */
  negationMismatch: number;
  /** Both say what kind of question they ask, and the kinds differ. */
  questionMismatch: number;
  /** Names (capitalised, not sentence-initial) on one side with no counterpart on the other. */
  unmatchedNames: number;
  /** Answer-direction markers clash (best vs worst, before vs after, "best" on one side only). */
  markerMismatch: number;
  /** Largest surprisal of a content word present on one side only (0 when all match). */
  maxUnmatchedSurprisal: number;
  /** Share of all content-word surprisal that has no counterpart on the other side. */
  unmatchedShare: number;
  /** Same share, counted on the side that has the larger unmatched share. */
  worstSideUnmatchedShare: number;
  /** Content words present on one side only (count, both sides). */
  unmatchedWords: number;
  /** |log(content words of a / content words of b)|. */
  lengthRatio: number;
  /**
   * Surprisal added by content on one side only, when the other side has nothing unmatched:
   * "buy steroids" vs "buy steroids online". A rewording swaps words on both sides instead.
   */
  oneSidedSurprisal: number;
  /** When both sides have unmatched words: the rarer side's rarest word ("osmophiles" ↔ "xerophiles"). */
  swappedSurprisal: number;
  /** Content words of the shorter text: one changed word matters less in a long text. */
  shorterLength: number;
  /** A text without content words ("What is this?") leaves nothing to verify. */
  noContent: number;
}

export function compareProfiles(a: TextProfile, b: TextProfile): LexicalEvidence {
  const sideA = unmatched(a.words, b.words);
  const sideB = unmatched(b.words, a.words);
  const totalA = sum(a.words);
  const totalB = sum(b.words);
  const shareA = totalA > 0 ? sideA.surprisal / totalA : 0;
  const shareB = totalB > 0 ? sideB.surprisal / totalB : 0;
  return {
    numberMismatch: sameMultiset(a.numbers, b.numbers) ? 0 : 1,
    negationMismatch: a.negations > 0 !== b.negations > 0 ? 1 : 0,
    questionMismatch:
      a.questionKind !== undefined && b.questionKind !== undefined && a.questionKind !== b.questionKind
        ? 1
        : 0,
    unmatchedNames: sideA.names + sideB.names,
    markerMismatch: markersClash(a.markers, b.markers) || markersClash(b.markers, a.markers) ? 1 : 0,
    maxUnmatchedSurprisal: Math.max(sideA.max, sideB.max),
    unmatchedShare: totalA + totalB > 0 ? (sideA.surprisal + sideB.surprisal) / (totalA + totalB) : 0,
    worstSideUnmatchedShare: Math.max(shareA, shareB),
    unmatchedWords: sideA.count + sideB.count,
    lengthRatio: Math.abs(Math.log((a.words.length + 1) / (b.words.length + 1))),
    oneSidedSurprisal: sideA.count === 0 || sideB.count === 0 ? sideA.surprisal + sideB.surprisal : 0,
    swappedSurprisal: sideA.count > 0 && sideB.count > 0 ? Math.min(sideA.max, sideB.max) : 0,
    shorterLength: Math.min(a.words.length, b.words.length),
    noContent: a.words.length === 0 || b.words.length === 0 ? 1 : 0,
  };
}

function unmatched(
  mine: Word[],
  theirs: Word[],
): { count: number; names: number; surprisal: number; max: number } {
  let count = 0;
  let names = 0;
  let surprisal = 0;
  let max = 0;
  for (const word of mine) {
    if (theirs.some((other) => wordsMatch(word.stem, other.stem))) continue;
    count++;
    if (word.name) names++;
    surprisal += word.surprisal;
    if (word.surprisal > max) max = word.surprisal;
  }
  return { count, names, surprisal, max };
}

/** Same stem, or a shared long prefix ("develop"/"developer"), or a one-letter typo in a long word. */
function wordsMatch(x: string, y: string): boolean {
  if (x === y) return true;
  const shorter = x.length <= y.length ? x : y;
  const longer = shorter === x ? y : x;
  if (shorter.length >= 5 && longer.startsWith(shorter)) return true;
  if (shorter.length >= 6 && longer.length - shorter.length <= 1)
    return editDistanceAtMostOne(shorter, longer);
  return false;
}

function editDistanceAtMostOne(s: string, t: string): boolean {
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < s.length && j < t.length) {
    if (s[i] === t[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (s.length === t.length) {
      i++;
      j++;
    } else j++;
  }
  return edits + (s.length - i) + (t.length - j) <= 1;
}

function markersClash(mine: string[], theirs: string[]): boolean {
  for (const [x, y] of OPPOSITE_STEMS) {
    if (mine.includes(x) && !mine.includes(y) && theirs.includes(y) && !theirs.includes(x)) return true;
  }
  return SUPERLATIVE_STEMS.some((s) => mine.includes(s) && !theirs.includes(s));
}

function sum(words: Word[]): number {
  let total = 0;
  for (const w of words) total += w.surprisal;
  return total;
}

function sameMultiset(x: string[], y: string[]): boolean {
  if (x.length !== y.length) return false;
  const sx = [...x].sort();
  const sy = [...y].sort();
  return sx.every((v, i) => v === sy[i]);
}
