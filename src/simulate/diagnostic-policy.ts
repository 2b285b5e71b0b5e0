/**
 * The optimal policy with one of the simulator's two diagnostics (bench:freshness rows marked
 * "diagnostic", never a result). Both only change what the policy learns from a refresh, so the
 * service's scheduler runs unchanged:
 *  - oracleSigma: σ is the true one from t = 0 (the runner stores it in every token's schedule)
 *    and stays so; jumps are still learned from the returns, judged against the true σ. What is
 *    left of the gap to J* is execution loss.
 *  - extraReturns k: every refresh also shows the learner k independent returns of the token over
 *    the same interval (market.ts extraReturn): k + 1 times the information to learn σ from.
 */
import type { ObservationProposal, PolicyToken } from '../core/policy.js';
import { OptimalPolicy, type OptimalPolicyOptions } from '../core/policies/optimal.js';

/** Sample count that marks σ as known (the largest the store accepts: int4). */
export const ORACLE_SAMPLES = 2_147_483_647;

export interface Diagnostics {
  /** The true σ (per √s) of a token id; set = oracleSigma. */
  trueSigma?: (tokenId: number) => number;
  /** k independent returns per refresh, drawn by `extraReturn`. */
  extraReturns?: { k: number; draw: (tokenId: number, dtSeconds: number) => number };
}

export class DiagnosticOptimalPolicy extends OptimalPolicy {
  constructor(
    opts: OptimalPolicyOptions,
    private readonly diag: Diagnostics,
  ) {
    super(opts);
  }

  override propose(token: PolicyToken, r: number, dtSeconds: number): ObservationProposal {
    const { trueSigma, extraReturns } = this.diag;
    if (trueSigma) {
      const sigma = trueSigma(token.id);
      const p = super.propose({ ...token, sigma, sigmaSamples: ORACLE_SAMPLES }, r, dtSeconds);
      return { sigma, sigmaSamples: ORACLE_SAMPLES, jump: p.jump, apply: () => p.apply() };
    }
    const steps = [super.propose(token, r, dtSeconds)];
    for (let k = 0; k < (extraReturns?.k ?? 0); k++) {
      const last = steps[steps.length - 1]!;
      const x = extraReturns!.draw(token.id, dtSeconds);
      steps.push(
        super.propose({ ...token, sigma: last.sigma, sigmaSamples: last.sigmaSamples }, x, dtSeconds),
      );
    }
    const last = steps[steps.length - 1]!;
    return {
      sigma: last.sigma,
      sigmaSamples: last.sigmaSamples,
      jump: steps[0]!.jump,
      apply: () => steps.forEach((s) => s.apply()),
    };
  }
}
