import { startDemo } from '../src/demo.js';
const demo = await startDemo({ apiPort: 18402 });
const t0 = Date.now();
for (let i = 0; i < 14; i++) {
  await new Promise((r) => setTimeout(r, 30_000));
  const st = await (await fetch(demo.apiUrl + '/api/v1/status')).json();
  const ins = await (await fetch(demo.apiUrl + '/api/v1/insight')).json();
  const f = (x: number) => (x * 100).toFixed(3) + '%';
  console.log(Math.round((Date.now() - t0) / 1000), 'est', f(st.estimatedStaleness), 'due', st.tokens.due, 'rpm', st.rates.refreshesLastMinute,
    'live', ins.live && [f(ins.live.optimal), f(ins.live.tiered), f(ins.live.uniform)].join(' '), 'iv', st.tiers.map((t: any) => Math.round(t.avgIntervalSeconds)).join(','));
}
await demo.stop();
