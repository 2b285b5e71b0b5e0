// Preload for benchmark children (`node --import`): writes the process's peak RSS in bytes
// (getrusage's maxrss) to $BENCH_RSS_FILE when it exits, so a benchmark reads the exact peak
// instead of polling /proc and missing the last moments.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.BENCH_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
