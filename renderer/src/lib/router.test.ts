import { describe, expect, it } from 'vitest';
import { hrefFor, parseRoute } from './router.js';

describe('router', () => {
  it('parses the routes', () => {
    expect(parseRoute('')).toEqual({ page: 'fleet' });
    expect(parseRoute('#/fleet')).toEqual({ page: 'fleet' });
    expect(parseRoute('#/devices/cam-1')).toEqual({ page: 'device', deviceId: 'cam-1' });
    expect(parseRoute('#/devices/a%3Ab')).toEqual({ page: 'device', deviceId: 'a:b' });
    expect(parseRoute('#/devices/%E0')).toEqual({ page: 'not-found', path: '/devices/%E0' });
    expect(parseRoute('#/nope')).toEqual({ page: 'not-found', path: '/nope' });
  });

  it('round-trips device ids', () => {
    const r = { page: 'device', deviceId: 'edge:01.a_b-c' } as const;
    expect(parseRoute(hrefFor(r))).toEqual(r);
  });
});
