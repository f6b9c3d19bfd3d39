import { pick } from './random.js';

/*
 * Reply text that reads like prose: a short echo of the question, then two to four
 * sentences assembled from phrase lists. Roughly 20-60 tokens. Nothing here is meant to be
 * true, only deterministic, varied, and tokenised like real English.
 */

const OPENERS = [
  'In short,',
  'Put simply,',
  'Overall,',
  'In practice,',
  'Generally,',
  'As a rule,',
  'Most of the time,',
  'To be precise,',
];
const SUBJECTS = [
  'the answer',
  'this approach',
  'a careful design',
  'the main idea',
  'each request',
  'the result',
  'a simple test',
  'the first step',
  'your question',
  'the usual method',
  'a small change',
  'the best option',
  'the system',
  'a good estimate',
];
const VERBS = [
  'depends on',
  'relies on',
  'improves',
  'reduces',
  'explains',
  'changes',
  'supports',
  'follows from',
  'shapes',
  'describes',
  'balances',
  'points to',
  'comes down to',
  'builds on',
];
const OBJECTS = [
  'the overall cost',
  'several practical factors',
  'the response time',
  'a clear trade-off',
  'the available data',
  'the final outcome',
  'a handful of details',
  'the wider context',
  'the underlying structure',
  'the expected load',
  'a few simple rules',
  'the original goal',
  'the known limits',
  'the typical case',
];
const CLAUSES = [
  'in most cases',
  'for typical workloads',
  'when the input is small',
  'over time',
  'with some care',
  'at larger scale',
  'under normal conditions',
  'for now',
  'in the long run',
  'as expected',
];

const ECHO_WORDS = 8;
const ECHO_CHARS = 60;

/** The first few words of `text`, whitespace collapsed, for quoting back. */
export function echoOf(text: string): string {
  const words = text.trim().split(/\s+/, ECHO_WORDS).join(' ');
  return words.length > ECHO_CHARS ? `${words.slice(0, ECHO_CHARS).trimEnd()}…` : words;
}

function sentence(rand: () => number): string {
  let s = `${pick(SUBJECTS, rand)} ${pick(VERBS, rand)} ${pick(OBJECTS, rand)}`;
  if (rand() < 0.5) s += ` ${pick(CLAUSES, rand)}`;
  s = rand() < 0.35 ? `${pick(OPENERS, rand)} ${s}` : s.charAt(0).toUpperCase() + s.slice(1);
  return `${s}.`;
}

/**
 * Compose a reply. `question` is the text to echo (the user's last words, or the tool
 * result being answered); `afterToolResult` changes the lead-in.
 */
export function composeReply(question: string, afterToolResult: boolean, rand: () => number): string {
  const echo = echoOf(question);
  const parts: string[] = [];
  if (echo !== '') parts.push(afterToolResult ? `Based on the result "${echo}":` : `You asked: "${echo}".`);
  const sentences = 2 + Math.floor(rand() * 3);
  for (let i = 0; i < sentences; i++) parts.push(sentence(rand));
  return parts.join(' ');
}
