import { canonicalJson } from '../src/cache/canonical-json.js';
function allKeys(v: unknown, set: Set<string>) {
  if (typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) if (typeof x === 'object' && x !== null) allKeys(x, set);
    return;
  }
  for (const k in v) {
    set.add(k);
    const x = (v as any)[k];
    if (typeof x === 'object' && x !== null) allKeys(x, set);
  }
}
const viaList = (v: unknown) => {
  const s = new Set<string>();
  allKeys(v, s);
  return JSON.stringify(v, [...s].sort());
};
const SENTENCE = 'The quarterly budget committee reviewed the figures and asked for a summary by Friday. ';
const weatherTool = (i: number) => ({
  type: 'function',
  function: {
    name: `lookup_${i}`,
    description: 'Look up the current weather for a city and return temperature and conditions.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 14 },
      },
      required: ['city'],
      additionalProperties: false,
    },
  },
});
const tools = Array.from({ length: 128 }, (_, i) => weatherTool(i));
const blocks = Array.from({ length: 200 }, (_, i) => ({
  role: 'user',
  content: [
    { type: 'text', text: SENTENCE },
    { type: 'text', text: SENTENCE.repeat(2) },
    { type: 'text', text: 'ok' },
  ],
}));
const typical = {
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    ...Array.from({ length: 4 }, (_, i) => ({ role: 'user', content: SENTENCE.repeat(2) })),
  ],
  tools: [weatherTool(1), weatherTool(2)],
};
for (const [name, v] of [
  ['tools', tools],
  ['blocks', blocks],
  ['typical', typical],
] as const) {
  console.log(viaList(v) === canonicalJson(v));
  for (const [label, f] of [
    ['copy', () => canonicalJson(v)!],
    ['list', () => viaList(v)],
    ['native', () => JSON.stringify(v)],
  ] as const) {
    for (let i = 0; i < 500; i++) f();
    const t = process.hrtime.bigint();
    let n = 0;
    for (let i = 0; i < 3000; i++) n += f().length;
    console.log(name, label, (Number(process.hrtime.bigint() - t) / 3000 / 1000).toFixed(2), 'us');
  }
}
