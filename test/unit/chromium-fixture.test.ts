import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findChromium, requireChromium } from '../fixtures/chromium.js';

describe('browser lane: finding Chromium', () => {
  let dir: string;
  let explicit: string;
  let system: string;
  let onPathDir: string;
  const missing = () => join(dir, 'nowhere', 'chromium');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trs-chromium-'));
    explicit = join(dir, 'my-chrome');
    system = join(dir, 'system-chromium');
    onPathDir = join(dir, 'bin');
    await mkdir(onPathDir);
    for (const f of [explicit, system, join(onPathDir, 'chromium')]) {
      await writeFile(f, '#!/bin/sh\n');
      await chmod(f, 0o755);
    }
    await writeFile(join(dir, 'not-executable'), '');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('CHROMIUM_PATH first, then the system path, then chromium on PATH', () => {
    expect(findChromium({ CHROMIUM_PATH: explicit, PATH: onPathDir }, system)).toBe(explicit);
    expect(findChromium({ PATH: onPathDir }, system)).toBe(system);
    expect(findChromium({ PATH: `/nonexistent:${onPathDir}` }, missing())).toBe(join(onPathDir, 'chromium'));
  });

  it('skips candidates that are missing, directories or not executable', () => {
    const env = { CHROMIUM_PATH: join(dir, 'not-executable'), PATH: dir };
    expect(findChromium(env, onPathDir)).toBeNull();
    expect(findChromium({ CHROMIUM_PATH: missing(), PATH: onPathDir }, missing())).toBe(
      join(onPathDir, 'chromium'),
    );
  });

  it('none found: outside CI a loud warning and null; under CI an error saying what to install', () => {
    const none = { CHROMIUM_PATH: missing(), PATH: '/nonexistent' };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(requireChromium(none, false, missing())).toBeNull();
      expect(warn).toHaveBeenCalledOnce();
      expect(String(warn.mock.calls[0]![0])).toMatch(/SKIPPING the browser tests/);
    } finally {
      warn.mockRestore();
    }
    expect(requireChromium({ CHROMIUM_PATH: explicit }, true, missing())).toBe(explicit);
    expect(() => requireChromium(none, true, missing())).toThrow(
      /required under CI.*apt-get install -y chromium/,
    );
  });
});
