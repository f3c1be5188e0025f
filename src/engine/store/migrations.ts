/**
 * Schema migrations, in order; PRAGMA user_version counts how many have run. Never edit one that
 * has shipped: add the next. Each runs in a transaction, after a backup copy of an older file.
 */
/**
 * Issue #12. A backbone failure remembers the file it was seen on (path, size, mtime), so a file that
 * changes, moves or reappears is tried again. One job at a time per database, across processes: the
 * single job_lock row is claimed in an IMMEDIATE transaction; a crashed owner's claim expires (its pid
 * is gone, or its heartbeat is old); stop_requested lets Stop reach a job in another process.
 */
const RELIABILITY_ROUND_2 = `
  ALTER TABLE feature_failures ADD COLUMN seen_as TEXT NOT NULL DEFAULT '';
  CREATE TABLE job_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stop_requested INTEGER NOT NULL DEFAULT 0
  );
`;

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE libraries (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    scanned_at TEXT
  );
  CREATE TABLE classes (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (library_id, name)
  );
  CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    rel_path TEXT NOT NULL,
    class_id INTEGER REFERENCES classes(id) ON DELETE SET NULL,
    size INTEGER NOT NULL,
    mtime_ms REAL NOT NULL,
    hash TEXT NOT NULL,
    split TEXT CHECK (split IN ('train', 'validation')),
    UNIQUE (library_id, rel_path)
  );
  CREATE INDEX photos_by_class ON photos(library_id, class_id, rel_path);
  CREATE INDEX photos_by_hash ON photos(hash);
  CREATE TABLE problems (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (library_id, stage, path)
  );
  CREATE TABLE features (
    backbone TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (backbone, hash)
  ) WITHOUT ROWID;
  CREATE TABLE feature_failures (
    backbone TEXT NOT NULL,
    hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (backbone, hash)
  ) WITHOUT ROWID;
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    model_id INTEGER,
    status TEXT NOT NULL CHECK (status IN ('running', 'paused', 'stopped', 'done', 'failed')),
    settings TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT (datetime('now')),
    finished_at TEXT,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    final_loss REAL,
    baseline TEXT,
    trained TEXT,
    error TEXT
  );
  CREATE TABLE run_steps (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (run_id, step)
  ) WITHOUT ROWID;
  CREATE TABLE run_epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    mean_loss REAL NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
  ) WITHOUT ROWID;
  CREATE TABLE checkpoints (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (run_id, epoch)
  );
  CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('baseline', 'trained')),
    backbone TEXT NOT NULL,
    backbone_dim INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    config TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    metrics TEXT,
    weights BLOB,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
  );
  CREATE TABLE embeddings (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    PRIMARY KEY (model_id, photo_id)
  ) WITHOUT ROWID;
  `,  // labels-in-app (issue #14): class rules chosen in the app on top of the folders, the folders
  // the last scan found, the one-step undo of the last label change, and the classes each run trained on.
  `
  CREATE TABLE label_folders (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    folder TEXT NOT NULL,
    class_name TEXT,
    PRIMARY KEY (library_id, folder)
  ) WITHOUT ROWID;
  CREATE TABLE label_photos (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    rel_path TEXT NOT NULL,
    class_name TEXT NOT NULL,
    PRIMARY KEY (library_id, rel_path)
  ) WITHOUT ROWID;
  CREATE TABLE label_undo (
    library_id INTEGER PRIMARY KEY REFERENCES libraries(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    restore TEXT NOT NULL
  );
  CREATE TABLE library_folders (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    folder TEXT NOT NULL,
    PRIMARY KEY (library_id, folder)
  ) WITHOUT ROWID;
  ALTER TABLE runs ADD COLUMN classes TEXT;
  `,
  // finetune-cut-activations: the frozen backbone's activations at a fine-tuning cut, per photo content
  // (uint8-quantised, see ml/activation-codec.ts), so last-blocks training never re-runs the backbone.
  `
  CREATE TABLE cut_activations (
    backbone TEXT NOT NULL,
    cut TEXT NOT NULL,
    hash TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (backbone, cut, hash)
  ) WITHOUT ROWID;
  `,
  // quality: the epoch a run's model keeps (best validation mAP@R); what a model's distances mean.
  `
  ALTER TABLE runs ADD COLUMN kept_epoch INTEGER;
  ALTER TABLE models ADD COLUMN distances TEXT;
  `,
  RELIABILITY_ROUND_2,
  // marks (issue #10): result photos marked "not similar" to a query, kept by path so a rescan keeps
  // them (like label_photos); the marks each run trained on.
  `
  CREATE TABLE similarity_marks (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    query_path TEXT NOT NULL,
    marked_path TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (library_id, query_path, marked_path)
  ) WITHOUT ROWID;
  ALTER TABLE runs ADD COLUMN marks_used INTEGER;
  `,
  // write-labels (issue #14): files moved into class folders by "Write labels to folders", kept for
  // the log and the one-step undo.
  `
  CREATE TABLE label_writes (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    written_at TEXT NOT NULL DEFAULT (datetime('now')),
    log TEXT NOT NULL,
    undone_at TEXT
  );
  `,
  // move-journal (issue #19): every file move ("write labels to folders", Duplicates' "move out") is
  // planned in full here before the first file moves, each step marked as it completes (write-ahead),
  // so a crash is finished or put back at the next open and any batch, even an interrupted one, can be
  // undone. Writes logged before this journal existed are carried over as finished batches (label_writes
  // is kept as it was, no longer written).
  `
  CREATE TABLE move_batches (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('write-labels', 'move-out')),
    from_root TEXT NOT NULL,
    to_root TEXT NOT NULL,
    created_folders TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL CHECK (state IN ('moving', 'moved', 'interrupted', 'undoing', 'undo-interrupted', 'undone')),
    owner_pid INTEGER NOT NULL,
    owner_host TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT (datetime('now')),
    finished_at TEXT,
    notice TEXT
  );
  CREATE INDEX move_batches_by_library ON move_batches(library_id, kind, id);
  CREATE TABLE move_steps (
    batch_id INTEGER NOT NULL REFERENCES move_batches(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    photo_id INTEGER,
    from_path TEXT NOT NULL,
    to_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    label_before TEXT,
    label_after TEXT,
    state TEXT NOT NULL CHECK (state IN ('planned', 'done', 'undone')),
    PRIMARY KEY (batch_id, seq)
  ) WITHOUT ROWID;
  INSERT INTO move_batches(id, library_id, kind, from_root, to_root, created_folders, state, owner_pid, owner_host, started_at, finished_at)
    SELECT w.id, w.library_id, 'write-labels', l.root, l.root, json_extract(w.log, '$.createdFolders'),
      CASE WHEN w.undone_at IS NULL THEN 'moved' ELSE 'undone' END, 0, '', w.written_at, w.written_at
    FROM label_writes w JOIN libraries l ON l.id = w.library_id;
  INSERT INTO move_steps(batch_id, seq, photo_id, from_path, to_path, size, label_before, label_after, state)
    SELECT w.id, m.key, json_extract(m.value, '$.photoId'), json_extract(m.value, '$.from'), json_extract(m.value, '$.to'), 0,
      json_extract(m.value, '$.ownLabel'), NULL, CASE WHEN w.undone_at IS NULL THEN 'done' ELSE 'undone' END
    FROM label_writes w, json_each(w.log, '$.moves') m;
  `,
  // models (issue #19): why a model could not run at its last indexing, shown in the app.
  `
  ALTER TABLE models ADD COLUMN problem TEXT;
  `,
  // label-undo-steps (issue #19): label changes undone several steps back, newest first, instead of
  // one. The same table name (a write of labels to folders still clears it), now a row per step; the
  // one step kept before becomes the first.
  `
  ALTER TABLE label_undo RENAME TO label_undo_one_step;
  CREATE TABLE label_undo (
    id INTEGER PRIMARY KEY,
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    restore TEXT NOT NULL
  );
  CREATE INDEX label_undo_by_library ON label_undo(library_id, id);
  INSERT INTO label_undo(library_id, description, restore) SELECT library_id, description, restore FROM label_undo_one_step;
  DROP TABLE label_undo_one_step;
  `,
  // label-audit (issue #24): the last "find the mislabelled" ranking of a library (as JSON, with the
  // class each photo had then), and the photos the user said are rightly labelled, by path and class.
  `
  CREATE TABLE label_audits (
    library_id INTEGER PRIMARY KEY REFERENCES libraries(id) ON DELETE CASCADE,
    audited_at TEXT NOT NULL DEFAULT (datetime('now')),
    result TEXT NOT NULL
  );
  CREATE TABLE label_confirmations (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    rel_path TEXT NOT NULL,
    class_name TEXT NOT NULL,
    confirmed_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (library_id, rel_path)
  ) WITHOUT ROWID;
  `,
  // sort (issue #24): suggestions the person rejected in the Sort view ("this photo is not of that
  // class"), kept by path like the marks so a rescan keeps them.
  `
  CREATE TABLE suggestion_rejections (
    library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    rel_path TEXT NOT NULL,
    class_name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (library_id, rel_path, class_name)
  ) WITHOUT ROWID;
  `,
  // map (issue #24): each model's 2D map of the library, kept until its embeddings change
  // (fingerprint: the photos and content hashes it was made from).
  `
  CREATE TABLE map_layouts (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    photo_ids BLOB NOT NULL,
    coordinates BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
  );
  `,
  // trainform (issue #21): what each phase of a run measured on this machine (items and active seconds:
  // photos of features or cut maps, triplets of the head or blocks, photos embedded), which the Train
  // form's estimates rest on; and a fine-tuning run's head-first scores, before the blocks trained.
  `
  CREATE TABLE run_rates (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    variant TEXT NOT NULL,
    items INTEGER NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, phase, variant)
  ) WITHOUT ROWID;
  CREATE INDEX run_rates_by_phase ON run_rates(phase, variant, run_id);
  ALTER TABLE runs ADD COLUMN head_alone TEXT;
  `,
  // The precision (int8 or fp32) the cached features of a backbone were computed at: features of the
  // other precision are computed again rather than mixed. Caches from before say nothing (null).
  `
  CREATE TABLE feature_precision (
    backbone TEXT PRIMARY KEY,
    precision TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
];
