// Text rendering of library results for the terminal: the explain tree
// (src/etf/explain.ts) as an offset / bytes / structure table.
import type { Explanation, ExplainNode } from '../etf/explain.js';
import type { Style } from './io.js';

/** Bytes of a node shown in the hex column before `..`. */
const HEX_COLUMN_BYTES = 8;

/** Options of {@link renderExplanation}. */
export interface RenderOptions {
  /** Also print each node's fields (name, offset, size, value) under it. */
  fields?: boolean;
}

function hexColumn(n: ExplainNode): string {
  const shown = n.hex.slice(0, HEX_COLUMN_BYTES * 2).replace(/(..)(?!$)/g, '$1 ');
  // Containers show their header (tag and counts); a leaf longer than the column gets `..`.
  return n.children.length === 0 && n.ownLength > HEX_COLUMN_BYTES ? `${shown} ..` : shown;
}

/**
 * The explanation as lines: `offset  bytes  structure`, children indented under
 * their parent, then the error (if any) with its offset and reason.
 */
export function renderExplanation(x: Explanation, style: Style, opts: RenderOptions = {}): string {
  const lines: string[] = [];
  const width = HEX_COLUMN_BYTES * 3 + 2;
  const offWidth = 6;
  lines.push(style.paint('dim', `${'offset'.padEnd(offWidth)}  ${'bytes'.padEnd(width)}  term`));
  const stack: ExplainNode[] = [...x.nodes].reverse();
  while (stack.length > 0) {
    const n = stack.pop() as ExplainNode;
    const off = (n.inflated ? 'z' : '') + String(n.offset);
    const indent = '  '.repeat(n.depth);
    const role = n.role ? style.paint('gray', `${n.role}: `) : '';
    const what = n.value !== undefined ? `${style.paint('green', n.value)} ${style.paint('dim', `(${n.meaning})`)}` : n.meaning;
    const more = n.incomplete ? style.paint('red', ' (incomplete)') : '';
    lines.push(
      `${off.padStart(offWidth)}  ${style.paint('gray', hexColumn(n).padEnd(width))}  ${indent}${role}${style.paint('cyan', n.tagName)} ${what}${more}`,
    );
    if (opts.fields) {
      for (const f of n.fields) {
        const at = (n.inflated ? 'z' : '') + String(f.offset);
        lines.push(`${at.padStart(offWidth)}  ${''.padEnd(width)}  ${indent}  ${style.paint('dim', `${f.name} (${f.length} byte${f.length === 1 ? '' : 's'}) = ${f.value}`)}`);
      }
    }
    if (n.omitted) {
      lines.push(`${''.padStart(offWidth)}  ${''.padEnd(width)}  ${indent}  ${style.paint('yellow', `... ${n.omitted} more not shown (--max-nodes)`)}`);
    }
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  if (x.nodes.some((n) => n.tag === 80)) lines.push(style.paint('dim', "(offsets marked z count from the start of the inflated data)"));
  if (x.error) {
    const where = (x.error.inflated ? 'z' : '') + String(x.error.offset);
    lines.push(style.paint('red', `${where.padStart(offWidth)}  error ${x.error.code}: ${x.error.message}`));
  } else {
    lines.push(style.paint('dim', `${x.length} bytes${x.trailing ? `, ${x.trailing} trailing` : ''}, valid`));
  }
  return lines.join('\n') + '\n';
}
