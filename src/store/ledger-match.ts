/**
 * The ledger's `where` semantics, shared by the backends that filter in JS (memory, Redis);
 * SQLite applies the same rule in SQL. A string field matches its own text, a number field
 * its decimal text; other types never match.
 */
export function ledgerRowMatches(
  row: Record<string, unknown>,
  where: Readonly<Record<string, unknown>>,
): boolean {
  for (const field in where) {
    const wanted = where[field];
    if (wanted === undefined) continue;
    const value = row[field];
    if (typeof value === 'string') {
      if (value !== wanted) return false;
    } else if (typeof value === 'number') {
      if (String(value) !== wanted) return false;
    } else return false;
  }
  return true;
}

/** Ledger field names go into SQL JSON paths; allow identifiers only. */
export function checkLedgerField(field: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) throw new TypeError(`invalid ledger field name '${field}'`);
  return field;
}
