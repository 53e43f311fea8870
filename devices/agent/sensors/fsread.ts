import { readFile, readdir, access } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Tiny async readers for sysfs/procfs under an injectable root, so tests can point the agent at a
 * fake tree in a tmp dir. They return null instead of throwing: a missing sensor is normal.
 */
export function under(root: string, absPath: string): string {
  return join(root, absPath);
}

export async function readText(root: string, absPath: string): Promise<string | null> {
  try {
    // Device-tree strings are NUL-terminated; sysfs values end in a newline.
    return (await readFile(under(root, absPath), 'utf8')).replace(/\0/g, '').trim();
  } catch {
    return null;
  }
}

export async function readNumber(root: string, absPath: string): Promise<number | null> {
  const text = await readText(root, absPath);
  if (text === null || text === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

export async function listDir(root: string, absPath: string): Promise<string[]> {
  try {
    return (await readdir(under(root, absPath))).sort(naturalCompare);
  } catch {
    return [];
  }
}

export async function exists(root: string, absPath: string): Promise<boolean> {
  try {
    await access(under(root, absPath));
    return true;
  } catch {
    return false;
  }
}

/** thermal_zone2 before thermal_zone10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
