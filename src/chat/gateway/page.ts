// The chat page's files (src/chat/gateway/page/, copied to dist by the
// build): read once when a gateway starts and served from memory with their
// content type, an ETag (a 304 when the browser has it), `no-cache` (always
// revalidated, so a new version is seen at once) and the security headers
// of a page that runs only its own scripts.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  ico: 'image/x-icon',
};

/** One file ready to serve. */
export interface PageFile {
  body: Buffer;
  headers: Record<string, string>;
  etag: string;
}

/** The directory the page's files are read from. */
export const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

/** Reads the page's files: `/` is index.html; every other file by its name. */
export function loadPage(dir = PAGE_DIR): Map<string, PageFile> {
  const out = new Map<string, PageFile>();
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf('.') + 1);
    const type = TYPES[ext];
    if (type === undefined) continue;
    const body = readFileSync(`${dir}/${name}`);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    const headers: Record<string, string> = {
      'Content-Type': type,
      'Cache-Control': 'no-cache',
      ETag: etag,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    };
    if (ext === 'html') {
      headers['Content-Security-Policy'] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'";
      headers['X-Frame-Options'] = 'SAMEORIGIN';
    }
    const file = { body, headers, etag };
    out.set(`/${name}`, file);
    if (name === 'index.html') out.set('/', file);
  }
  return out;
}
