import { newToken } from '../../src/core/auth/tokens.js';
import { findLeaks } from '../support/log-audit.js';

describe('the log audit scanner', () => {
  it('finds issued tokens, JWTs and known secret values, with their line', () => {
    const text = [
      '{"msg":"fine","route":"/v2/gateway_auth/:token"}',
      `{"msg":"oops ${newToken('refresh')}"}`,
      '{"msg":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}',
      '{"detail":"password was hunter2-secret"}',
    ].join('\n');
    expect(findLeaks('a.log', text, ['hunter2-secret'])).toEqual([
      { file: 'a.log', line: 2, what: 'a gateway token' },
      { file: 'a.log', line: 3, what: 'a JWT' },
      { file: 'a.log', line: 4, what: 'the secret hun…' },
    ]);
  });

  it('lets redacted lines through', () => {
    expect(findLeaks('a.log', '{"token":"[redacted]","msg":"route /v2/gateway_auth/[redacted]"}', ['hunter2-secret'])).toEqual([]);
  });
});
