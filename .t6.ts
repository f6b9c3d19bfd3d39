import { profileText, compareProfiles } from './src/cache/semantic/lexical.js';
import { wordSurprisal } from './src/cache/semantic/surprisal.js';
for (const w of ['the', 'capital', 'France', 'france', 'Faridabad', 'quickly', 'IterableDataset', 'provides', 'Hadoop']) console.log(w, wordSurprisal(w).toFixed(1));
const pairs = [['What is the capital of France?', 'What is the capital of Spain?'], ['What is 2+3?', 'What is 2+4?'], ['How to cook rice', 'How not to cook rice'], ["Why don't cats like water?", 'Why do cats like water?'],
['An IterableDataset is a type of dataset in the Hugging Face Datasets library that provides fast data loading when iterating using a for loop.', 'A for loop can be used to quickly access data from an IterableDataset, which is a kind of dataset in the Hugging Face Datasets library.']];
for (const [a, b] of pairs) { const t = performance.now(); const r = compareProfiles(profileText(a), profileText(b)); console.log(a, '|', b, r, (performance.now() - t).toFixed(3)); }
console.log(profileText(pairs[4][0]));
