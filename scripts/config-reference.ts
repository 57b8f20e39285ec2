/**
 * Prints the configuration reference (a markdown table generated from the schema):
 *   node --import tsx scripts/config-reference.ts
 */
import { configReferenceMarkdown } from '../src/config/schema.js';

process.stdout.write(configReferenceMarkdown());
