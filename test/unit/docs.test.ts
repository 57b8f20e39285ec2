import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { README_PATH, renderReadme } from '../../scripts/docs.js';
import { METRICS } from '../../src/telemetry/metrics.js';

test('the README reference tables (config, metrics, attributes) match the code', () => {
  const readme = readFileSync(README_PATH, 'utf8');
  assert.equal(renderReadme(readme), readme, 'README.md is stale: run `node --import tsx scripts/docs.ts`');
  for (const m of METRICS) assert.ok(readme.includes(`\`${m.name}\``), `${m.name} is documented`);
});
