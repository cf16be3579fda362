import { normalizeRoot } from '../accounts.js';

/** The claims the root template may use. */
export const ROOT_PLACEHOLDERS = ['sub', 'email', 'preferred_username'] as const;
type Placeholder = (typeof ROOT_PLACEHOLDERS)[number];

/** What the operator decided about who may sign in and what they see (OIDC_ROOT, OIDC_*_GROUPS). */
export interface AccessRules {
  rootTemplate: string;
  groupsClaim: string;
  /** Empty: everyone the provider signs in. */
  allowedGroups: readonly string[];
  readOnlyGroups: readonly string[];
}

/** Who the person is to the gateway, from their claims; or why they may not sign in. */
export type Admission = { ok: true; root: string; readOnly: boolean; groups: string[] } | { ok: false; reason: string };

/** Why a root template cannot be used; undefined when it can (checked at start-up). */
export function rootTemplateProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(ROOT_PLACEHOLDERS as readonly string[]).includes(name!)) return `may use only ${ROOT_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}, not {${name}}`;
  }
  const sample = template.replace(/\{[^}]*\}/g, 'x');
  if (/[{}]/.test(sample)) return 'has an unmatched { or }';
  if (normalizeRoot(sample) === undefined) return 'must give a key prefix without empty, . or .. segments';
  return undefined;
}

/** A claim's value as one segment of a key: a non-empty string that cannot add or climb a level. */
function segmentProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is missing';
  if (value === '.' || value === '..' || value.includes('/') || value.includes('\\')) return 'cannot be one folder name';
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'holds control characters';
  if (Buffer.byteLength(value) > 255) return 'is too long';
  return undefined;
}

/** The groups a claim lists: an array of strings or one string; anything else, none. */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  const v = claims[claim];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string');
  return [];
}

/** Applies the operator's rules to a person's claims (from the ID token and userinfo). */
export function admit(claims: Record<string, unknown>, rules: AccessRules): Admission {
  const groups = groupsOf(claims, rules.groupsClaim);
  if (rules.allowedGroups.length > 0 && !groups.some((g) => rules.allowedGroups.includes(g))) {
    return { ok: false, reason: 'You are not a member of a group allowed to use this gateway (OIDC_ALLOWED_GROUPS).' };
  }
  let problem: string | undefined;
  const root = rules.rootTemplate.replace(/\{([^}]*)\}/g, (_, name: Placeholder) => {
    const value = claims[name];
    const why = segmentProblem(value);
    if (why) problem ??= `Your identity provider's claim ${name} ${why}, so the gateway cannot tell which folder is yours (OIDC_ROOT).`;
    return why ? 'x' : (value as string);
  });
  if (problem) return { ok: false, reason: problem };
  const normalized = normalizeRoot(root);
  if (normalized === undefined) return { ok: false, reason: 'The folder OIDC_ROOT gives for you is not a valid key prefix.' };
  return { ok: true, root: normalized, readOnly: groups.some((g) => rules.readOnlyGroups.includes(g)), groups };
}
