/**
 * `${env:NAME}` and `${env:NAME:-default}` references, resolved once when a file loads.
 * Resolved values are secrets: they are collected so that logs and errors can redact them.
 */
const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface EnvResolution {
  value: string;
  /** names referenced that have neither a value nor a default */
  missing: string[];
  /** the non-empty values substituted from the environment */
  secrets: string[];
}

export function hasEnvRef(text: string): boolean {
  ENV_REF.lastIndex = 0;
  return ENV_REF.test(text);
}

export function resolveEnvRefs(text: string, env: NodeJS.ProcessEnv): EnvResolution {
  const missing: string[] = [];
  const secrets: string[] = [];
  const value = text.replace(ENV_REF, (_all, name: string, fallback: string | undefined) => {
    const found = env[name];
    if (found !== undefined && found !== '') {
      secrets.push(found);
      return found;
    }
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
  return { value, missing, secrets };
}
