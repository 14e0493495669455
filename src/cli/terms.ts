// Printing terms in event lines: bounded in size, so that a 64 MB binary or a
// million-element list in a message prints as a short summary, not 100 MB of text.
import { atom, formatTerm, ImproperList, Tuple, type Term } from '../etf/index.js';

/** Binaries longer than this print as `'#Bin<N bytes>'`. */
const MAX_BINARY = 256;
/** Nesting below this depth prints as `'...'`. */
const MAX_DEPTH = 64;

/**
 * A copy of `term` small enough to print: at most `budget` elements in all,
 * the rest of each container replaced by the atom `'...'`, long binaries by an
 * atom naming their size. Leaves `term` itself untouched.
 */
export function clipTerm(term: Term, budget = 2000): Term {
  let left = budget;
  const more = atom('...');
  const clip = (t: Term, depth: number): Term => {
    left--;
    if (depth > MAX_DEPTH) return more;
    if (Buffer.isBuffer(t) && t.length > MAX_BINARY) return atom(`#Bin<${t.length} bytes>`);
    const items = (xs: readonly Term[]): Term[] => {
      const out: Term[] = [];
      for (const x of xs) {
        if (left <= 0) {
          out.push(more);
          break;
        }
        out.push(clip(x, depth + 1));
      }
      return out;
    };
    if (Array.isArray(t)) return items(t);
    if (t instanceof Tuple) return new Tuple(items(t.elements));
    if (t instanceof ImproperList) return new ImproperList(items(t.elements), clip(t.tail, depth + 1));
    if (t instanceof Map) {
      const m = new Map<Term, Term>();
      for (const [k, v] of t) {
        if (left <= 0) {
          m.set(more, more);
          break;
        }
        m.set(clip(k, depth + 1), clip(v, depth + 1));
      }
      return m;
    }
    return t;
  };
  return clip(term, 0);
}

/**
 * `term` in Erlang syntax as the Erlang shell shows it (printable lists as
 * strings), with pids' nodes, clipped (see {@link clipTerm}).
 */
export function showTerm(term: Term, budget?: number): string {
  return formatTerm(clipTerm(term, budget), { nodes: true, strings: true });
}
