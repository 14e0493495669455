// Guards of the gateway's API routes: where a request may come from (a
// browser on another site is refused), what a POST body must be (JSON), and
// what a 401 says (RFC 9110 section 11.6.1).
import type { HttpRequest } from './http.js';
import { HttpError } from './json.js';
import { SESSION_COOKIE } from './session.js';

/** RFC 9110 section 11.6.1: a 401 says how to authenticate. Here: sign in at /api/login for a session cookie. */
export const WWW_AUTHENTICATE = `Cookie realm="beambridge", cookie-name="${SESSION_COOKIE}", login="/api/login"`;

/**
 * Refuses a request another site made the browser send (403): `Sec-Fetch-Site`
 * other than same-origin or none (a person typing the URL), or else an
 * `Origin` whose host is not this request's Host. A client that sends
 * neither (curl, a service) is let through: cookies are what it would forge,
 * and a browser sends at least one of the two with every cross-site fetch or form.
 */
export function checkSameOrigin(req: HttpRequest): void {
  const site = req.headers.get('sec-fetch-site');
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return;
    throw new HttpError(403, 'cross_site', `cross-site requests are refused (Sec-Fetch-Site: ${site})`);
  }
  const origin = req.headers.get('origin');
  if (origin === undefined) return;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host === '' || host !== req.headers.get('host')) throw new HttpError(403, 'cross_site', `cross-site requests are refused (Origin: ${origin})`);
}

/** A POST body must be JSON, said so by its Content-Type (415 otherwise): an HTML form cannot send that cross-site. An empty body may leave it out. */
export function checkJsonBody(req: HttpRequest): void {
  const type = req.headers.get('content-type');
  if (type === undefined && req.body.length === 0) return;
  const media = (type ?? '').split(';')[0].trim().toLowerCase();
  if (media !== 'application/json') throw new HttpError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json', { Accept: 'application/json' });
}
