/**
 * The agent's start-up memory. Loading its modules (some 230 files: the OpenTelemetry API, core,
 * resources and metrics SDK, yaml, ours) allocates objects that nearly all survive, and V8 answers
 * survivors by growing the young generation: its semi-spaces go from 1 to 4 MB. V8 gives that back
 * only when its memory reducer runs, about 8 s after start, so an idle agent beside 50 containers
 * showed 69 MB of RSS for its first seconds and 62 MB from then on.
 *
 * Holding V8's semi-space growth factor at 1 while the modules load keeps the young generation at
 * its initial size (the agent then peaks at about 65.5 MB); setting it back to V8's default once
 * the service runs lets a busy receiver grow it as before (a small young generation costs CPU and
 * promotes queued data: see "Tried and not kept" in the README).
 *
 * Node warns that changing V8 flags after start may behave unpredictably (crashes included) or do
 * nothing. This one is a plain integer that V8 reads, on the main thread, only when it grows the
 * new space, so it is done only on the V8 it was tested with (Node 20's V8 11; elsewhere nothing
 * happens: a renamed flag would only print V8's "unrecognized flag" on stderr). On the command line
 * a factor of 1 had no effect (the new space still grew to 8.4 MB); set at run time, it holds.
 * `NODE_OPTIONS=--max-semi-space-size=…` (any young-generation size) turns the hold off.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default semi_space_growth_factor (`node --v8-options`: 2 in Node 20). */
const DEFAULT_GROWTH_FACTOR = 2;

/** The V8 major version the hold was measured and tested with (Node 20). */
const TESTED_V8_MAJOR = 11;

/** Node options with which the user sized the young generation: then we leave it alone. */
const YOUNG_GENERATION_OPTION = /--(?:max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;

/**
 * Stops the young generation from growing until the returned function is called (idempotent).
 * Does nothing when the user sized the young generation through node options or NODE_OPTIONS,
 * or on another V8 than the one it was tested with.
 */
export function holdYoungGenerationAtStartup(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  v8Version: string = process.versions.v8,
): () => void {
  if (Number.parseInt(v8Version, 10) !== TESTED_V8_MAJOR) return () => undefined;
  if (execArgv.some((arg) => YOUNG_GENERATION_OPTION.test(arg)) || YOUNG_GENERATION_OPTION.test(nodeOptions)) return () => undefined;
  setFlagsFromString('--semi-space-growth-factor=1');
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
  };
}
