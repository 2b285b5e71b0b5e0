import { buildAnalysisReport } from '../src/core/analysis-report.js';
import { formatAnalysis } from '../src/cli/analyze-format.js';
import { demoTokenRows } from '../src/demo.js';
import { buildTokens } from '../src/market/tokens.js';
const market = buildTokens(5000, 42, Date.now());
const rows = demoTokenRows(market).map((r) => ({ ...r, rank: r.rank ?? null, volume_24h: r.volume_24h ?? null, in_contest: !!r.in_contest, priority_score: 0, refresh_interval_seconds: null, lastPriceChangeAt: null }));
const rep = buildAnalysisReport(rows as never, { planName: 'keyless', requestsPerMinute: 30, maxBatchSize: 50, minIntervalSeconds: 15, deviation: 0.01, now: Date.now() });
console.log(formatAnalysis(rep as never));
