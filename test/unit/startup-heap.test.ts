/**
 * The CLI's start-up hold on the young generation (src/cli/startup-heap.ts),
 * each case in a fresh Node process (V8 flags are per process): while held,
 * 400 000 surviving objects leave the new space at the size it had; released,
 * or when the user sized the young generation, V8 grows it as usual (the TypeScript
 * loader has grown it a little before the case begins).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MODULE = new URL('../../src/cli/startup-heap.ts', import.meta.url).href;

/** How many times the new space grew while survivors were allocated, in a child process set up by `setup`. */
async function newSpaceGrowth(setup: string): Promise<number> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { holdYoungGenerationAtStartup } from ${JSON.stringify(MODULE)};
    const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const before = newSpace();
    ${setup}
    const kept = [];
    for (let i = 0; i < 400000; i++) kept.push({ i, s: 'x' + i });
    process.stdout.write(String(newSpace() / before) + ' ' + kept.length);
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
  return Number(stdout.split(' ')[0]);
}

test('held, the young generation keeps its size however much survives', async () => {
  const growth = await newSpaceGrowth('holdYoungGenerationAtStartup([], "");');
  assert.equal(growth, 1);
});

test('released, it grows again', async () => {
  const growth = await newSpaceGrowth('holdYoungGenerationAtStartup([], "")();');
  assert.ok(growth >= 2, `new space grew ${growth} times after release`);
});

test('a young generation the user sized (node option or NODE_OPTIONS), or another V8, is left alone', async () => {
  for (const setup of [
    'holdYoungGenerationAtStartup(["--max-semi-space-size=16"], "");',
    'holdYoungGenerationAtStartup([], "--max_semi_space_size=16");',
    'holdYoungGenerationAtStartup([], "", "12.4.254.21-node.33");',
  ]) {
    const growth = await newSpaceGrowth(setup);
    assert.ok(growth >= 2, `new space grew ${growth} times with ${setup}`);
  }
});
