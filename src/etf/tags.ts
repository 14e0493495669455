/**
 * Tag bytes of the External Term Format (erl_ext_dist, "External Term Format").
 * Section names in comments are those of the ERTS user's guide.
 */

/** The version byte that starts every encoded term ("Introduction"). */
export const VERSION = 131;
/** Distribution header tags (erl_ext_dist "Distribution Header"); never a term. */
export const DIST_HEADER = 68;
export const DIST_FRAG_HEADER = 69;
export const DIST_FRAG_CONT = 70;

export const NEW_FLOAT_EXT = 70;
export const BIT_BINARY_EXT = 77;
/** Compressed term: 80, UncompressedSize:32, zlib data ("Introduction", table 2). */
export const COMPRESSED = 80;
export const ATOM_CACHE_REF = 82;
export const NEW_PID_EXT = 88;
export const NEW_PORT_EXT = 89;
export const NEWER_REFERENCE_EXT = 90;
export const SMALL_INTEGER_EXT = 97;
export const INTEGER_EXT = 98;
export const FLOAT_EXT = 99;
export const ATOM_EXT = 100;
export const REFERENCE_EXT = 101;
export const PORT_EXT = 102;
export const PID_EXT = 103;
export const SMALL_TUPLE_EXT = 104;
export const LARGE_TUPLE_EXT = 105;
export const NIL_EXT = 106;
export const STRING_EXT = 107;
export const LIST_EXT = 108;
export const BINARY_EXT = 109;
export const SMALL_BIG_EXT = 110;
export const LARGE_BIG_EXT = 111;
export const NEW_FUN_EXT = 112;
export const EXPORT_EXT = 113;
export const NEW_REFERENCE_EXT = 114;
export const SMALL_ATOM_EXT = 115;
export const MAP_EXT = 116;
/** FUN_EXT: removed; not decoded since OTP 23. */
export const FUN_EXT = 117;
export const ATOM_UTF8_EXT = 118;
export const SMALL_ATOM_UTF8_EXT = 119;
export const V4_PORT_EXT = 120;
/** LOCAL_EXT (OTP 26+): 121, Hash:32, then one term in a node-local encoding. */
export const LOCAL_EXT = 121;

/**
 * The largest bignum OTP accepts, in bytes of magnitude: binary_to_term refuses
 * SMALL_BIG/LARGE_BIG digits longer than this (measured on OTP 25: 4,194,296
 * accepted, 4,194,297 refused).
 */
export const MAX_BIG_BYTES = 4_194_296;

/** The most characters (code points) an atom may have. */
export const MAX_ATOM_CHARS = 255;
