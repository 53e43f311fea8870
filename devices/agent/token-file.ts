import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppError } from '../../shared/errors.js';
import { MIN_TOKEN_LENGTH } from './auth.js';

export function defaultTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'edge-agent', 'token');
}

export interface TokenFileResult {
  token: string;
  created: boolean;
  /** Set when the file is readable by group/others. */
  warning?: string;
}

/**
 * Reads the agent token, creating a random 32-byte hex one (mode 0600, exclusive create so two
 * agents starting at once cannot overwrite each other's token) when the file does not exist.
 */
export async function loadOrCreateTokenFile(path: string): Promise<TokenFileResult> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new AppError(
        'BAD_INPUT',
        `token file ${path} holds a token shorter than ${MIN_TOKEN_LENGTH} characters`,
        {
          hint: 'Delete the file to have the agent create a new random token (then re-enroll the device).',
        },
      );
    }
    const mode = (await stat(path)).mode & 0o777;
    return mode & 0o077
      ? {
          token,
          created: false,
          warning: `token file ${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 ${path}`,
        }
      : { token, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof AppError) throw err;
      throw new AppError('ENVIRONMENT', `cannot read token file ${path}: ${(err as Error).message}`);
    }
  }
  const token = randomBytes(32).toString('hex');
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateTokenFile(path);
    throw new AppError('ENVIRONMENT', `cannot create token file ${path}: ${(err as Error).message}`, {
      hint: 'Pick a writable path with --token-file, or set EDGE_AGENT_TOKEN.',
    });
  }
  return { token, created: true };
}
