import { isGenviewError } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { constantLr, cosineWithWarmup, createSchedule, scaledLr, scheduleSchema, stepLr } from '../src/optim';

describe('cosineWithWarmup', () => {
  // W = 10 warm-up steps of T = 110, from 0.1 to 1, then cosine down to 0.01.
  const lr = cosineWithWarmup({ baseLr: 1, warmupSteps: 10, totalSteps: 110, warmupStartLr: 0.1, finalLr: 0.01 });

  it('warms up linearly from warmupStartLr, reaching baseLr at the last warm-up step', () => {
    expect(lr(0)).toBeCloseTo(0.1, 12);
    expect(lr(3)).toBeCloseTo(0.1 + (3 * 0.9) / 9, 12);
    expect(lr(9)).toBeCloseTo(1, 12);
  });

  it('starts the cosine at baseLr at the end of warm-up, is halfway at the midpoint and ends at finalLr', () => {
    expect(lr(10)).toBeCloseTo(1, 12);
    // Quarter: cos(π/4); midpoint of the decay (step 60): cos(π/2) = 0 → (1 + 0.01)/2.
    expect(lr(35)).toBeCloseTo(0.01 + 0.5 * 0.99 * (1 + Math.SQRT1_2), 12);
    expect(lr(60)).toBeCloseTo(0.505, 12);
    expect(lr(110)).toBeCloseTo(0.01, 12);
    // Held at finalLr past the end rather than rising again.
    expect(lr(500)).toBe(0.01);
  });

  it('defaults: no warm-up starts at baseLr; decays to 0', () => {
    const plain = cosineWithWarmup({ baseLr: 0.5, warmupSteps: 0, totalSteps: 100 });
    expect(plain(0)).toBe(0.5);
    expect(plain(50)).toBeCloseTo(0.25, 12);
    expect(plain(100)).toBeCloseTo(0, 12);
    const zeroStart = cosineWithWarmup({ baseLr: 2, warmupSteps: 5, totalSteps: 20 });
    expect(zeroStart(0)).toBe(0);
    expect(zeroStart(2)).toBeCloseTo(1, 12);
  });
});

describe('other schedules and config', () => {
  it('constant and step (MultiStepLR) schedules', () => {
    expect(constantLr(0.3)(0)).toBe(0.3);
    expect(constantLr(0.3)(1e6)).toBe(0.3);
    const s = stepLr({ baseLr: 1, milestones: [80, 30], gamma: 0.1 });
    expect(s(0)).toBe(1);
    expect(s(29)).toBe(1);
    expect(s(30)).toBeCloseTo(0.1, 12);
    expect(s(79)).toBeCloseTo(0.1, 12);
    expect(s(80)).toBeCloseTo(0.01, 12);
  });

  it('scheduleSchema fills defaults; createSchedule rejects bad configs and steps', () => {
    expect(scheduleSchema.parse({ name: 'cosine', baseLr: 1, totalSteps: 10 })).toEqual({
      name: 'cosine',
      baseLr: 1,
      totalSteps: 10,
      warmupSteps: 0,
      warmupStartLr: 0,
      finalLr: 0,
    });
    expect(scheduleSchema.parse({ name: 'step', baseLr: 1 })).toEqual({ name: 'step', baseLr: 1, milestones: [], gamma: 0.1 });
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return isGenviewError(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => createSchedule({ name: 'cosine', baseLr: 1, warmupSteps: 20, totalSteps: 10 }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => createSchedule({ name: 'cosine', baseLr: -1, totalSteps: 10 }))).toBe('INVALID_CONFIG');
    expect(() => createSchedule({ name: 'cosine', baseLr: 1, warmupSteps: 20, totalSteps: 10 }, { path: 'trainer.schedule' })).toThrow(
      /trainer\.schedule\.warmupSteps/,
    );
    expect(codeOf(() => constantLr(1)(-1))).toBe('BAD_INPUT');
  });

  it('scaledLr applies the linear scaling rule', () => {
    expect(scaledLr(0.3, 4096)).toBeCloseTo(4.8, 12);
    expect(scaledLr(1, 64, 128)).toBe(0.5);
    expect(() => scaledLr(1, 0)).toThrow(/batchSize/);
  });
});
