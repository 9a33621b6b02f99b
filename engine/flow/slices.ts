/**
 * Loading a flow is cut into short slices (a chunk of YAML, one step's compile, ...): before each piece of work the
 * loader asks `sliceOver()`, and once the current slice has run SLICE_MS it awaits `nextSlice()`, so that a large
 * file loading in a running engine holds the event loop for about SLICE_MS at a time: requests, /healthz and timers
 * go on while it loads. A small file fits in one slice and loads without a pause, as one piece of synchronous work
 * (pausing anyway would interleave the files a reload loads at once and keep more of them in memory together).
 */
export const SLICE_MS = 10;

/** When the current slice began: the first check since the event loop last turned. */
let sliceStarted = 0;
/** Whether a check already ran since the event loop last turned (a setImmediate clears it when the loop goes on). */
let inSlice = false;

/** Whether the current slice has run SLICE_MS; the first check after the event loop turned starts a new slice. */
export function sliceOver(): boolean {
  const now = performance.now();
  if (!inSlice) {
    inSlice = true;
    sliceStarted = now;
    setImmediate(() => {
      inSlice = false;
    });
    return false;
  }
  return now - sliceStarted >= SLICE_MS;
}

/** Lets the event loop run (timers, I/O, requests); the next check starts a new slice. */
export function nextSlice(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
