import { describe, expect, it } from 'vitest';
import { FanOut } from '../../sidecar/p2p/fan-out.js';
import { MAX_POINTERS } from '../../sidecar/p2p/wire.js';

describe('FanOut (the --max-peer-streams bound)', () => {
  it('grants at most `max` streams per blob, counts blobs apart, and frees a slot on release', () => {
    const fanOut = new FanOut(2);
    const a = fanOut.acquire('sha256:x', 'peerA');
    const b = fanOut.acquire('sha256:x', 'peerB');
    expect(a && b).toBeTruthy();
    expect(fanOut.acquire('sha256:x', 'peerC')).toBeUndefined();
    expect(fanOut.acquire('sha256:y', 'peerC')).toBeDefined();
    a!.release();
    a!.release();
    expect(fanOut.active('sha256:x')).toBe(1);
    expect(fanOut.acquire('sha256:x', 'peerC')).toBeDefined();
    expect(fanOut.acquire('sha256:x', 'peerD')).toBeUndefined();
  });

  it('points a turned-away peer at receivers of the blob, furthest along first, never at itself, rotating', () => {
    const fanOut = new FanOut(6);
    const slots = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((peer) => fanOut.acquire('sha256:x', peer)!);
    slots.forEach((slot, i) => slot.progress((i + 1) * 1000));
    const first = fanOut.pointers('sha256:x', 'p6');
    expect(first).toHaveLength(MAX_POINTERS);
    expect(first).not.toContain('p6');
    expect(first[0]).toBe('p5');
    const second = fanOut.pointers('sha256:x', 'p6');
    expect(second[0]).not.toBe(first[0]);
    expect(fanOut.pointers('sha256:other', 'p1')).toEqual([]);
  });
});
