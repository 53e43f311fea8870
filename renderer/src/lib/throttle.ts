/**
 * Runs `fn` at most once per `ms`: the first call runs at once, calls inside the window collapse
 * into one trailing run at its end. `cancel()` drops a pending trailing run.
 */
export function throttle(
  fn: () => void,
  ms: number,
  clock: {
    now: () => number;
    setTimeout: (f: () => void, ms: number) => unknown;
    clearTimeout: (h: unknown) => void;
  } = {
    now: () => Date.now(),
    setTimeout: (f, t) => globalThis.setTimeout(f, t),
    clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  },
): { (): void; cancel(): void } {
  let last = -Infinity;
  let timer: unknown = null;
  const run = () => {
    timer = null;
    last = clock.now();
    fn();
  };
  const throttled = () => {
    if (timer !== null) return;
    const wait = last + ms - clock.now();
    if (wait <= 0) run();
    else timer = clock.setTimeout(run, wait);
  };
  throttled.cancel = () => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
  };
  return throttled;
}
