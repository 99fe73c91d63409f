/** `berth verify <config>`: checks a config, the files it names and each OpenID provider once. */
import { loadConfig } from '../config/load-config.js';
import { loadHtpasswd } from '../auth/htpasswd.js';
import { checkProvider } from '../auth/oidc-discovery.js';

export async function verify(file: string): Promise<number> {
  const config = await loadConfig(file);
  if (config.http.auth.htpasswdPath) await loadHtpasswd(config.http.auth.htpasswdPath);
  for (const warning of config.warnings) console.warn(`warning: ${warning}`);
  const providers = config.http.auth.openid?.providers ?? [];
  const reports = await Promise.all(providers.map((provider) => checkProvider(provider, `${config.file}: /http/auth/openid/providers/${provider.key}`)));
  for (const report of reports) {
    for (const note of report.notes) console.log(note);
    for (const warning of report.warnings) console.warn(`warning: ${warning}`);
    for (const problem of report.problems) console.error(problem);
  }
  if (reports.some((report) => report.problems.length > 0)) return 1;
  console.log(`${config.file}: ok`);
  return 0;
}
