#!/usr/bin/env node
/**
 * The executable: holds the young generation at its initial size while the
 * agent's modules load (startup-heap.ts), then runs the agent (agent.ts).
 */
import { holdYoungGenerationAtStartup } from './startup-heap.js';

// Before the agent's modules load: a static import would load them before this line runs.
const releaseYoungGeneration = holdYoungGenerationAtStartup();
try {
  const { runAgent } = await import('./agent.js');
  runAgent(process.argv.slice(2), { onStarted: releaseYoungGeneration });
} catch (err) {
  process.stderr.write(`fatal: cannot load the agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
