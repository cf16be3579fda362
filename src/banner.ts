import type { Runtime } from './runtime.js';

/** What a person starting the gateway needs to use it at once: where, how to sign in, a demo account. */
export function startupBanner(rt: Runtime, url: string): string {
  const lines = ['', `S3 Storage Gateway ready at ${url}`];
  const s3 = rt.embeddedS3
    ? `bucket "${rt.config.s3.bucket}" on the embedded S3 server, data in ${rt.embeddedS3.directory} (for trying and development, not production)`
    : `bucket "${rt.config.s3.bucket}" at ${rt.config.s3.endpoint}`;
  lines.push(`  S3:        ${s3}`);
  lines.push(`  Sessions:  ${rt.store.durable ? 'Redis' : 'in-process store: sessions end with the process (set REDIS_URL to keep them)'}`);
  if (rt.config.auth.mode === 'oidc') {
    const o = rt.config.auth.oidc;
    lines.push(`  Sign-in:   oauth through ${o.issuer}, the browser coming back to ${o.redirectUrl}`);
  } else {
    lines.push(`  Sign-in:   form with fields ${rt.services.signIn.form.map((f) => f.name).join(', ')} — POST ${url}/v2/gateway_auth`);
  }
  if (rt.embeddedS3 && rt.config.auth.mode === 's3') {
    const body = `'{"access_key_id":"S3RVER","secret_access_key":"S3RVER"}'`;
    lines.push(`  Keys:      the embedded server's, access key S3RVER, secret S3RVER`);
    lines.push(`  Try:       curl -s -X POST ${url}/v2/gateway_auth -d ${body}`);
  }
  if (rt.demo) {
    const d = rt.demo;
    lines.push(
      `  Demo user: ${d.name}, password ${d.generated ? `${d.password} (generated at start; set DEMO_PASSWORD to choose one)` : 'from DEMO_PASSWORD'}`,
    );
    const body = d.generated ? `'{"user":"${d.name}","password":"${d.password}"}'` : `"{\\"user\\":\\"${d.name}\\",\\"password\\":\\"$DEMO_PASSWORD\\"}"`;
    lines.push(`  Try:       curl -s -X POST ${url}/v2/gateway_auth -d ${body}`);
  }
  return `${lines.join('\n')}\n`;
}
