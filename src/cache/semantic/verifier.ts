/**
 * The semantic hit decision. A cosine threshold alone is not safe: "capital of France" and
 * "capital of Spain" sit at cosine 0.85 under USE-lite, closer than many true paraphrases.
 * The verifier combines the cosine with word-level evidence (numbers, names, negation,
 * question kind, rare words present on one side only) in a logistic model whose
 * coefficients are fitted offline (`bench/fit-verifier.ts`), and hard vetoes for the
 * mismatches that change an answer whatever the embedding says.
 */
import { compareProfiles, type LexicalEvidence, type TextProfile } from './lexical.js';

export const FEATURE_NAMES = [
  'cosine',
  'cosineSharp',
  'numberMismatch',
  'negationMismatch',
  'questionMismatch',
  'unmatchedNames',
  'markerMismatch',
  'maxUnmatchedSurprisal',
  'unmatchedShare',
  'worstSideUnmatchedShare',
  'unmatchedWords',
  'lengthRatio',
  'oneSidedSurprisal',
  'swappedSurprisal',
  'logLength',
  'cosineByLength',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** The kinds of evidence that reject a candidate outright when the model says so. */
export type Veto =
  | 'noContent'
  | 'numberMismatch'
  | 'negationMismatch'
  | 'questionMismatch'
  | 'unmatchedNames'
  | 'markerMismatch';

export interface VerifierModel {
  /** The embedder the coefficients were fitted for; cosines of other embedders are not comparable. */
  embedderId: string;
  bias: number;
  /** Absent for an uncalibrated embedder: then the score is the cosine itself. */
  weights?: Record<FeatureName, number>;
  /** Score at or above which a candidate is a hit (a probability, or a cosine without weights). */
  threshold: number;
  /** Candidates below this cosine are not scored at all (cheap pre-filter). */
  minCosine: number;
  vetoes: Veto[];
  /** Where the numbers came from (data, split, measured rates); kept for the record. */
  provenance?: string;
}

export interface Verdict {
  hit: boolean;
  /** Calibrated probability that the two texts ask the same thing (0 when vetoed). */
  score: number;
  veto?: Veto;
}

/** Feature values in `FEATURE_NAMES` order. */
export function featureVector(cosine: number, evidence: LexicalEvidence): Float64Array {
  const x = new Float64Array(FEATURE_NAMES.length);
  x[0] = cosine;
  // −log(1 − cos) stretches the region near 1 where the decision is made.
  x[1] = -Math.log(Math.max(1e-4, 1 - cosine));
  x[2] = evidence.numberMismatch;
  x[3] = evidence.negationMismatch;
  x[4] = evidence.questionMismatch;
  x[5] = Math.min(evidence.unmatchedNames, 2);
  x[6] = evidence.markerMismatch;
  x[7] = evidence.maxUnmatchedSurprisal / 10;
  x[8] = evidence.unmatchedShare;
  x[9] = evidence.worstSideUnmatchedShare;
  x[10] = Math.log1p(evidence.unmatchedWords);
  x[11] = evidence.lengthRatio;
  x[12] = evidence.oneSidedSurprisal / 10;
  x[13] = evidence.swappedSurprisal / 10;
  x[14] = Math.log1p(evidence.shorterLength);
  // Lets the model ask for less cosine when the texts are long (a long text moves less per word).
  x[15] = (cosine - 0.9) * x[14];
  return x;
}

export function logistic(model: VerifierModel, x: Float64Array): number {
  const weights = model.weights;
  if (!weights) return x[0];
  let z = model.bias;
  for (let i = 0; i < FEATURE_NAMES.length; i++) z += weights[FEATURE_NAMES[i]] * x[i];
  return 1 / (1 + Math.exp(-z));
}

export class Verifier {
  constructor(readonly model: VerifierModel) {
    if (!(model.threshold > 0 && model.threshold < 1))
      throw new TypeError('verifier: threshold must be in (0, 1)');
  }

  /** `cached` is the stored entry's text profile, `query` the new request's. */
  judge(cosine: number, cached: TextProfile, query: TextProfile, threshold = this.model.threshold): Verdict {
    if (cosine < this.model.minCosine) return { hit: false, score: 0 };
    const evidence = compareProfiles(cached, query);
    for (const veto of this.model.vetoes) {
      if (evidence[veto] > 0) return { hit: false, score: 0, veto };
    }
    const score = logistic(this.model, featureVector(cosine, evidence));
    return { hit: score >= threshold, score };
  }
}

/**
 * The verifier for an embedder: the calibrated model shipped for USE-lite, or — for an
 * embedder nobody calibrated here (provider models) — the same word-level vetoes with a plain
 * cosine threshold, which the operator should fit with `bench/fit-verifier.ts` on their data.
 */
export function verifierFor(
  embedderId: string,
  shipped: VerifierModel,
  options: { threshold?: number; cosineThreshold: number },
): Verifier {
  if (embedderId === shipped.embedderId) {
    return new Verifier({ ...shipped, threshold: options.threshold ?? shipped.threshold });
  }
  return new Verifier({
    embedderId,
    bias: 0,
    threshold: options.cosineThreshold,
    minCosine: options.cosineThreshold,
    vetoes: shipped.vetoes,
    provenance: 'uncalibrated: cosine threshold plus the word-level vetoes',
  });
}
