import { Writable } from 'node:stream';
import winston from 'winston';
import { newToken } from '../../src/core/auth/tokens.js';
import { createLogger, registerSecret } from '../../src/log.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json' });
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) }));
  return { logger, lines };
}

describe('logger redaction', () => {
  it('redacts fields named like credentials, at any depth', () => {
    const { logger, lines } = capture();
    logger.info('x', { accessToken: 'AAA', nested: { password: 'BBB', ok: 'visible' }, headers: { authorization: 'Bearer CCC' } });
    const line = lines.join('');
    expect(line).not.toMatch(/AAA|BBB|CCC/);
    expect(line).toContain('visible');
  });

  it('redacts registered secret values wherever they appear', () => {
    registerSecret('super-secret-key-123');
    const { logger, lines } = capture();
    logger.warn('S3 said super-secret-key-123 was wrong', { detail: 'key=super-secret-key-123' });
    expect(lines.join('')).not.toContain('super-secret-key-123');
    expect(lines.join('')).toContain('[redacted]');
  });
});

describe('logger redaction of issued tokens and JWTs', () => {
  it('redacts them wherever they appear, whatever the field is called', () => {
    const { logger, lines } = capture();
    const access = newToken('access');
    const refresh = newToken('refresh');
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ';
    logger.info(`route /v2/gateway_auth/${access}`, { note: `sent ${refresh}`, list: [jwt] });
    const line = lines.join('');
    for (const secret of [access, refresh, jwt]) expect(line).not.toContain(secret);
    expect(line).toContain('route /v2/gateway_auth/[redacted]');
  });
});
