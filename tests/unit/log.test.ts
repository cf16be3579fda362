import { Writable } from 'node:stream';
import winston from 'winston';
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
