import type { RotationStep } from './rotation-settings.js';

/**
 * Fault injection for crash tests and drills (documented in the rotation README): the process
 * kills itself with SIGKILL right before running, or right after persisting, the given phase.
 * Set with `rotation_fault` / CUSTOS_ROTATION_FAULT=crash-after:set (never in production).
 */
export interface RotationFault {
  when: 'before' | 'after';
  step: RotationStep;
}

export function parseRotationFault(text: string | undefined): RotationFault | null {
  if (!text) return null;
  const m = /^crash-(before|after):(create|set|test|finish)$/.exec(text.trim());
  if (!m) throw new Error(`invalid rotation fault "${text}" (use crash-before:<step> or crash-after:<step>)`);
  return { when: m[1] as 'before' | 'after', step: m[2] as RotationStep };
}
