// Preload for benchmark children (`node --import`): writes the process's peak RSS in bytes to
// $BENCH_RSS_FILE when it exits, so a benchmark reads the exact peak instead of polling /proc and
// missing the last moments. VmHWM of /proc/self/status, not getrusage's maxrss: Linux keeps
// ru_maxrss across execve, so a child spawned by a benchmark holding 600 MB reported 600 MB
// whatever it used itself.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.BENCH_RSS_FILE;
  if (!file) return;
  let bytes = process.resourceUsage().maxRSS * 1024;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) bytes = Number(m[1]) * 1024;
  } catch {
    // not Linux: getrusage's figure
  }
  writeFileSync(file, String(bytes));
});
