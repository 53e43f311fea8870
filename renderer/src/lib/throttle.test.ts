import { describe, expect, it } from 'vitest';
import { throttle } from './throttle.js';

describe('throttle', () => {
  it('runs at once, then collapses calls into one trailing run', () => {
    let now = 0;
    const timers: { at: number; f: () => void }[] = [];
    const clock = {
      now: () => now,
      setTimeout: (f: () => void, ms: number) => {
        const t = { at: now + ms, f };
        timers.push(t);
        return t;
      },
      clearTimeout: (h: unknown) => {
        const i = timers.indexOf(h as { at: number; f: () => void });
        if (i >= 0) timers.splice(i, 1);
      },
    };
    let runs = 0;
    const t = throttle(() => runs++, 1000, clock);
    t();
    expect(runs).toBe(1);
    now = 100;
    t();
    t();
    expect(runs).toBe(1);
    expect(timers).toHaveLength(1);
    expect(timers[0]?.at).toBe(1000);
    now = 1000;
    timers.shift()?.f();
    expect(runs).toBe(2);
    now = 1500;
    t();
    t.cancel();
    expect(timers).toHaveLength(0);
    now = 2500;
    t();
    expect(runs).toBe(3);
  });
});
