/**
 * The JavaScript model of Erlang terms.
 *
 * | Erlang                    | JavaScript                                             |
 * |---------------------------|--------------------------------------------------------|
 * | integer                   | `number` inside the safe range, `bigint` outside       |
 * | float                     | `number` (default) or {@link Float} (lossless decode)  |
 * | atom                      | {@link Atom} (interned), `true`/`false` as booleans    |
 * | tuple                     | {@link Tuple}                                          |
 * | proper list               | `Term[]` (a JS array)                                  |
 * | improper list             | {@link ImproperList}                                   |
 * | map                       | `Map<Term, Term>`                                      |
 * | binary                    | `Buffer` (any `Uint8Array` encodes)                    |
 * | bitstring                 | {@link BitBinary}                                      |
 * | pid / port / reference    | {@link Pid} / {@link Port} / {@link Reference}         |
 * | fun (local) / fun M:F/A   | {@link Fun} / {@link ExportFun}                        |
 * | LOCAL_EXT (opaque)        | {@link LocalExt}                                       |
 *
 * Encoding conveniences (never produced by decode): a JS `string` encodes as a
 * UTF-8 binary, `null` and `undefined` as the atom `undefined`, and a plain
 * object as a map with binary keys.
 *
 * Spec: erl_ext_dist ("External Term Format") in the ERTS user's guide.
 */

/** Any value that encodes to an Erlang term. */
export type Term =
  | number
  | bigint
  | boolean
  | string
  | null
  | undefined
  | Buffer
  | Uint8Array
  | Atom
  | Tuple
  | Float
  | Pid
  | Port
  | Reference
  | BitBinary
  | ImproperList
  | Fun
  | ExportFun
  | LocalExt
  | Term[]
  | Map<Term, Term>
  | { [key: string]: Term };

/**
 * The atom table: name -> the live Atom of that name, held weakly. An atom
 * nothing references any more can be collected (its entry then goes, through
 * the FinalizationRegistry), so a flood of new atoms from a peer cannot
 * exhaust memory the way it exhausts an Erlang VM's atom table. While an atom
 * is referenced anywhere (a term, a Map key, a module constant), `atom(name)`
 * returns that same object, so `===` and Map keys keep working.
 */
const atomTable = new Map<string, WeakRef<Atom>>();
const atomReaper = new FinalizationRegistry<string>((name) => {
  // The entry may already hold a newer atom of the same name: remove only a dead one.
  const r = atomTable.get(name);
  if (r !== undefined && r.deref() === undefined) atomTable.delete(name);
});

/**
 * An Erlang atom. Atoms are interned: `atom('ok') === atom('ok')`, so they can be
 * compared with `===` and used as `Map` keys. Construct them with {@link atom}.
 * Unlike Erlang's, the atom table does not grow forever: an atom that nothing
 * references any more is garbage collected (a later `atom()` of its name makes
 * a new one, which nothing can tell apart).
 */
export class Atom {
  /** The atom's text, as Unicode. At most 255 characters (code points). */
  readonly name: string;
  /**
   * @internal Codec cache: the complete ETF encoding (tag, length, UTF-8
   * text), set by the encoder on first use (see atoms.ts).
   */
  ext: Uint8Array | undefined = undefined;
  /**
   * @internal Codec cache: {@link ext} packed as big-endian 32-bit words for
   * the encoder's hot path (element 0 is the byte length; see atoms.ts).
   */
  extWords: Int32Array | undefined = undefined;
  /**
   * @internal Distribution atom cache: the slot (0..2047) this atom takes
   * in the atom caches of outgoing connections, -1 until first sent with
   * the cache (see src/dist/atomcache.ts).
   */
  cix = -1;

  /** @internal Use {@link atom}; the constructor does not intern. */
  constructor(name: string) {
    this.name = name;
  }
}

/**
 * How many atoms are interned in this process: those alive, plus those
 * collected whose entries are not yet removed (that happens shortly after a
 * garbage collection). This is the number to watch for atoms made from
 * untrusted input; it falls again when they are no longer referenced.
 */
export function atomCount(): number {
  return atomTable.size;
}

/**
 * The atoms used most recently, held strongly in two generations of at most
 * {@link RECENT} each: a hot atom is found with one Map lookup (a WeakRef's
 * deref() costs twice that again), and at most 2 x RECENT atoms are kept
 * alive by this cache alone, however many a flood creates.
 */
const RECENT = 2048;
let young = new Map<string, Atom>();
let old = new Map<string, Atom>();

/** Returns the interned {@link Atom} named `name`. */
export function atom(name: string): Atom {
  let a = young.get(name);
  if (a !== undefined) return a;
  a = old.get(name) ?? atomTable.get(name)?.deref();
  if (a === undefined) {
    a = new Atom(name);
    atomTable.set(name, new WeakRef(a));
    atomReaper.register(a, name);
  }
  if (young.size >= RECENT) {
    old = young;
    young = new Map();
  }
  young.set(name, a);
  return a;
}

/** An Erlang tuple, `{A, B, ...}`. */
export class Tuple {
  /** The elements, in order. */
  readonly elements: Term[];

  constructor(elements: Term[]) {
    this.elements = elements;
  }

  /** Number of elements (Erlang's `tuple_size/1`). */
  get size(): number {
    return this.elements.length;
  }

  /** Element `i`, zero-based (Erlang's `element(i + 1, T)`). */
  at(i: number): Term {
    return this.elements[i];
  }
}

/** Builds a {@link Tuple}: `tuple(atom('ok'), 1)` is `{ok, 1}`. */
export function tuple(...elements: Term[]): Tuple {
  return new Tuple(elements);
}

/**
 * An Erlang float kept distinct from integers. Decode returns these only with
 * `{ lossless: true }`, so that `1.0` and `-0.0` survive a round trip; a plain
 * JS `number` that is an integer encodes as an Erlang integer.
 */
export class Float {
  readonly value: number;

  constructor(value: number) {
    this.value = value;
  }

  valueOf(): number {
    return this.value;
  }
}

/**
 * A process identifier (PID_EXT / NEW_PID_EXT, erl_ext_dist 12.10 and 12.11).
 * `id` is 15 bits and `serial` 13 bits on classic nodes, 32 bits each on the wire
 * with NEW_PID_EXT; `creation` is 32 bits (8 bits with the old tag).
 */
export class Pid {
  constructor(
    /** The node the process lives on. */
    readonly node: Atom,
    readonly id: number,
    readonly serial: number,
    readonly creation: number,
  ) {}
}

/**
 * A port identifier (PORT_EXT / NEW_PORT_EXT / V4_PORT_EXT). `id` is a `number`
 * when it fits 32 bits and a `bigint` for 64-bit V4 port ids.
 */
export class Port {
  constructor(
    readonly node: Atom,
    readonly id: number | bigint,
    readonly creation: number,
  ) {}
}

/**
 * A reference (REFERENCE_EXT / NEW_REFERENCE_EXT / NEWER_REFERENCE_EXT).
 * `ids` holds the 32-bit words as sent on the wire (1 to 5 of them).
 */
export class Reference {
  constructor(
    readonly node: Atom,
    readonly creation: number,
    readonly ids: readonly number[],
  ) {}
}

/**
 * A bitstring whose length is not a whole number of bytes (BIT_BINARY_EXT).
 * `bits` is the number of significant bits in the last byte of `data`, 1 to 8;
 * the unused low bits of the last byte are zero.
 */
export class BitBinary {
  constructor(
    readonly data: Buffer,
    readonly bits: number,
  ) {}

  /** Total length in bits. */
  get bitLength(): number {
    return this.data.length === 0 ? 0 : (this.data.length - 1) * 8 + this.bits;
  }
}

/** A list whose tail is not `[]`, such as `[1, 2 | three]`. */
export class ImproperList {
  constructor(
    /** The heads, at least one. */
    readonly elements: Term[],
    /** The final tail, anything but a proper list. */
    readonly tail: Term,
  ) {}
}

/** A local fun (NEW_FUN_EXT, erl_ext_dist 12.20). Opaque but round-trippable. */
export class Fun {
  constructor(
    readonly arity: number,
    /** The 16-byte MD5 of the module's significant parts. */
    readonly uniq: Buffer,
    readonly index: number,
    readonly module: Atom,
    readonly oldIndex: number | bigint,
    readonly oldUniq: number | bigint,
    /** The creating process (OTP 23+ may use a placeholder pid). */
    readonly pid: Pid,
    readonly freeVars: Term[],
  ) {}
}

/** An external fun `fun M:F/A` (EXPORT_EXT, erl_ext_dist 12.21). */
export class ExportFun {
  readonly module: Atom;
  readonly function: Atom;
  readonly arity: number;

  constructor(module: Atom, fn: Atom, arity: number) {
    this.module = module;
    this.function = fn;
    this.arity = arity;
  }
}

/**
 * A LOCAL_EXT term (tag 121): an encoding local to one node, kept as opaque
 * bytes. `bytes` starts with the 121 tag and runs to the end of the term.
 */
export class LocalExt {
  constructor(readonly bytes: Buffer) {}
}

// ---------------------------------------------------------------- printing

/**
 * Every term class prints in Erlang syntax: `String(t)`, `${t}` and
 * `util.inspect` / `console.log` show `{ok, 42}`, `'hello world'`,
 * `<'web1@127.0.0.1'.4.0>` (pids, ports and references with their node), not
 * the class internals. The printer is formatTerm (text-format.ts), which
 * installs itself here when it loads, so this module imports nothing.
 */
let printer: (t: Term) => string = (t) => Object.prototype.toString.call(t);

/** @internal Called once by text-format.ts. */
export function setTermPrinter(p: (t: Term) => string): void {
  printer = p;
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
for (const C of [Atom, Tuple, Float, Pid, Port, Reference, BitBinary, ImproperList, Fun, ExportFun, LocalExt]) {
  Object.defineProperty(C.prototype, 'toString', {
    value(this: Term): string {
      return printer(this);
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(C.prototype, INSPECT, {
    // util.inspect(value, { maxStringLength }) bounds what a console.log prints.
    value(this: Term, _depth: number, o: { maxStringLength?: number | null } = {}): string {
      const s = printer(this);
      const max = o.maxStringLength ?? Infinity;
      return s.length > max ? `${s.slice(0, max)}... ${s.length - max} more characters` : s;
    },
    writable: true,
    configurable: true,
  });
}
