import { readFileSync } from 'node:fs';

// Reads just enough of an SQLite file to tell whether it holds a schema (tables), without an SQLite
// library: page 1 is the root of sqlite_master, and a database with no tables has no cell on it.

const MAGIC = 'SQLite format 3\0';
/** Page 1's b-tree header follows the 100-byte database header. */
const BTREE_HEADER = 100;
const LEAF_TABLE_PAGE = 0x0d;

/** Rows of sqlite_master on page 1 (0 for an empty or zero-length file); throws on a file that is not SQLite. */
export function sqliteSchemaRows(file: string): number {
  const bytes = readFileSync(file);
  if (bytes.length === 0) return 0;
  if (bytes.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new Error(`${file} is not an SQLite database`);
  const cells = bytes.readUInt16BE(BTREE_HEADER + 3);
  // An interior page means the schema spilled over several pages: certainly not empty.
  return bytes[BTREE_HEADER] === LEAF_TABLE_PAGE ? cells : Math.max(cells, 1);
}
