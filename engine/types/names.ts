/**
 * Names for parts of the generated types that the engine passes around on their own (the generated files name only
 * what a schema defines under $defs). Derived, never re-declared: the schemas stay the source.
 */
import type { Flow } from './flow.ts';

/** How a flow runs: sync (its steps, then the answer) or async (the answer at once, its steps in the background). */
export type Mode = NonNullable<Flow['mode']>;
