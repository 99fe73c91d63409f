/**
 * The buffer-churn counter (src/storage/buffer-churn.ts): a minor collection after every
 * CHURN_BYTES transferred, and nothing at all when the process has no exposed gc.
 */
import { describe, expect, it } from 'vitest';
import { BufferChurn, CHURN_BYTES } from '../../../src/storage/buffer-churn.js';

describe('BufferChurn', () => {
  it('asks for one minor collection per CHURN_BYTES transferred, counting across chunks', () => {
    const calls: unknown[] = [];
    const churn = new BufferChurn((options) => calls.push(options));
    const chunk = 64 * 1024;
    for (let sent = 0; sent < 3 * CHURN_BYTES; sent += chunk) churn.note(chunk);
    expect(calls).toEqual([{ type: 'minor' }, { type: 'minor' }, { type: 'minor' }]);
    churn.note(CHURN_BYTES - 1);
    expect(calls).toHaveLength(3);
    churn.note(1);
    expect(calls).toHaveLength(4);
  });

  it('does nothing without an exposed gc', () => {
    const churn = new BufferChurn(undefined);
    expect(() => churn.note(10 * CHURN_BYTES)).not.toThrow();
  });
});
