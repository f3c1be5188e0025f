import BetterSqlite3 from 'better-sqlite3';

/**
 * For tests that stage what no API writes (a damaged cache row, a crashed owner): one statement on a
 * connection of its own to the database file, as another process would. The engine's store keeps its
 * connection to itself.
 */
export function runSql(dbPath: string, sql: string, ...params: unknown[]): void {
  const db = new BetterSqlite3(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}
