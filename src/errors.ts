/**
 * The one base class for every error beambridge throws or rejects with.
 *
 * Each error carries a stable `code` string (for example `ERR_DECODE_TRUNCATED`)
 * that callers can switch on; messages may be reworded between releases, codes
 * may not. `instanceof` keeps working when two copies of the package are loaded
 * in one process, because the check is done through a `Symbol.for` brand rather
 * than the prototype chain.
 */
const BRAND = Symbol.for('beambridge.error');

export class BeamBridgeError extends Error {
  /** A stable machine-readable code, e.g. `ERR_TIMEOUT`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  get [BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    // A copy of the class from another instance of the package: same brand, same name.
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
    if (this === BeamBridgeError) return true;
    for (let p = Object.getPrototypeOf(value); p !== null; p = Object.getPrototypeOf(p)) {
      if (p.constructor?.name === this.name) return true;
    }
    return false;
  }
}
