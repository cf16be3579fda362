import { admit, groupsOf, rootTemplateProblem, type AccessRules } from '../../src/core/auth/oidc/claims.js';

const rules = (r: Partial<AccessRules> = {}): AccessRules => ({
  rootTemplate: 'users/{sub}/',
  groupsClaim: 'groups',
  allowedGroups: [],
  readOnlyGroups: [],
  ...r,
});

describe('oidc claims: who may sign in, and what they see', () => {
  it.each([
    ['users/{sub}/', undefined],
    ['{email}', undefined],
    ['teams/{preferred_username}/home', undefined],
    ['', undefined],
    ['users/{name}/', /may use only \{sub\}, \{email\}, \{preferred_username\}, not \{name\}/],
    ['users/{sub/', /unmatched/],
    ['users/../{sub}/', /without empty, \. or \.\. segments/],
  ])('checks the root template %j at start-up', (template, problem) => {
    const found = rootTemplateProblem(template);
    if (problem) expect(found).toMatch(problem);
    else expect(found).toBeUndefined();
  });

  it('fills the root from the claims, one key segment each', () => {
    expect(admit({ sub: 'abc-123' }, rules())).toEqual({ ok: true, root: 'users/abc-123/', readOnly: false, groups: [] });
    expect(admit({ sub: 's', email: 'ann@example.org' }, rules({ rootTemplate: 'people/{email}' }))).toMatchObject({ root: 'people/ann@example.org/' });
  });

  it.each([
    [{ sub: '../../admin' }, /cannot be one folder name/],
    [{ sub: 'a/b' }, /cannot be one folder name/],
    [{ sub: '..' }, /cannot be one folder name/],
    [{ sub: 'a\\b' }, /cannot be one folder name/],
    [{ sub: 'tab\there' }, /control characters/],
    [{ sub: '' }, /is missing/],
    [{}, /is missing/],
    [{ sub: 42 }, /is missing/],
    [{ sub: 'x'.repeat(256) }, /too long/],
  ])('refuses claims %j that would climb out of the root or name no folder', (claims, reason) => {
    const a = admit(claims, rules());
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.reason).toMatch(reason);
  });

  it('reads groups from the claim named, as a list or one string', () => {
    expect(groupsOf({ groups: ['a', 'b', 3] }, 'groups')).toEqual(['a', 'b']);
    expect(groupsOf({ roles: 'admin' }, 'roles')).toEqual(['admin']);
    expect(groupsOf({ groups: { a: 1 } }, 'groups')).toEqual([]);
  });

  it('lets in members of an allowed group only, and makes a read-only group win over any other', () => {
    const r = rules({ allowedGroups: ['staff', 'admins'], readOnlyGroups: ['auditors'] });
    expect(admit({ sub: 'a', groups: ['staff'] }, r)).toMatchObject({ ok: true, readOnly: false });
    expect(admit({ sub: 'a', groups: ['admins', 'auditors'] }, r)).toMatchObject({ ok: true, readOnly: true });
    expect(admit({ sub: 'a', groups: ['auditors'] }, r)).toMatchObject({ ok: false });
    expect(admit({ sub: 'a' }, r)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a member of a group allowed/) });
    expect(admit({ sub: 'a', groups: ['auditors'] }, rules({ readOnlyGroups: ['auditors'] }))).toMatchObject({ ok: true, readOnly: true });
  });
});
