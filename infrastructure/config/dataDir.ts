import fs from 'node:fs';

/**
 * DATA_DIR holds the embedded database (PGlite: WAL, catalog, every table), the dev defaults and
 * the payer link key. PGlite writes its ~1000 files with the process umask (usually 0644/0755),
 * so the directory itself is what keeps other local users out: it is created 0700, and an
 * existing one that group or others can enter is narrowed to 0700 (`tightened`, logged by the
 * caller). A directory is only as private as its own mode; its children need no change.
 */
export const PRIVATE_DIR_MODE = 0o700;
/** Files Settle writes itself in DATA_DIR (dev-defaults.json, payer-link-secret). */
export const PRIVATE_FILE_MODE = 0o600;

export interface PrivateDir {
  readonly created: boolean;
  /** The mode an existing directory had before it was narrowed to 0700; null when it was private already. */
  readonly tightenedFrom: number | null;
}

export function ensurePrivateDir(dir: string): PrivateDir {
  let created = false;
  try {
    fs.mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // parents missing: create them (ordinary modes), then this one private
      fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      created = true;
    } else if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = fs.statSync(dir).mode & 0o777;
  // mkdir's mode is masked by the umask; chmod is not (and a new directory must end up exactly 0700)
  if (mode !== PRIVATE_DIR_MODE) fs.chmodSync(dir, PRIVATE_DIR_MODE);
  return { created, tightenedFrom: !created && (mode & 0o077) !== 0 ? mode : null };
}

/**
 * Reads a secret file Settle wrote itself, narrowing it to 0600 if someone loosened it; null when
 * it does not exist.
 */
export function readPrivateFile(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, PRIVATE_FILE_MODE);
  return text;
}

/** Creates a secret file exclusively with mode 0600 whatever the umask; false when it exists. */
export function createPrivateFile(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.fchmodSync(fd, PRIVATE_FILE_MODE);
    fs.writeSync(fd, content);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}
