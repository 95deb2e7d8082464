-- Sweeps, their trials, per-epoch reports, training-loss samples, and the
-- append-only event log. Times are ISO-8601 UTC text with milliseconds;
-- lease expiries are Unix milliseconds, compared with the clock in SQL.

CREATE TABLE sweeps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    dataset      TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    metric_name  TEXT    NOT NULL,
    metric_goal  TEXT    NOT NULL CHECK (metric_goal IN ('maximize', 'minimize')),
    max_trials   INTEGER NOT NULL,
    max_parallel INTEGER,
    seed         INTEGER NOT NULL,
    spec         TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'cancelled')),
    -- Early stopping rule (JSON) and budgets beyond max_trials.
    early_terminate TEXT,
    deadline_ms  INTEGER,
    stop_at_deadline INTEGER NOT NULL DEFAULT 0,
    target       TEXT,
    -- What ended the sweep: max_trials, max_minutes, target or cancelled.
    ended_by     TEXT,
    created_at   TEXT    NOT NULL,
    finished_at  TEXT
);

CREATE TABLE trials (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id         INTEGER NOT NULL REFERENCES sweeps (id),
    number           INTEGER NOT NULL,
    -- NULL until claimed for model-based methods, which sample from history.
    params           TEXT,
    seed             INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'completed', 'pruned', 'failed', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    worker           TEXT,
    lease_expires_ms INTEGER,
    queued_at        TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    error            TEXT,
    epochs_done      INTEGER NOT NULL DEFAULT 0,
    train_loss       REAL,
    val_loss         REAL,
    val_accuracy     REAL,
    test_loss        REAL,
    test_accuracy    REAL,
    UNIQUE (sweep_id, number)
);
CREATE INDEX trials_by_state ON trials (state, sweep_id, number);

CREATE TABLE epoch_reports (
    trial_id     INTEGER NOT NULL REFERENCES trials (id),
    epoch        INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    train_loss   REAL    NOT NULL,
    val_loss     REAL    NOT NULL,
    val_accuracy REAL    NOT NULL,
    seconds      REAL    NOT NULL,
    -- The early-stopping decision on this report: continue or prune, and why.
    decision     TEXT,
    reason       TEXT,
    rung         INTEGER,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (trial_id, epoch)
) WITHOUT ROWID;

CREATE TABLE batch_losses (
    trial_id INTEGER NOT NULL REFERENCES trials (id),
    step     INTEGER NOT NULL,
    epoch    INTEGER NOT NULL,
    loss     REAL    NOT NULL,
    PRIMARY KEY (trial_id, step)
) WITHOUT ROWID;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id   INTEGER NOT NULL REFERENCES sweeps (id),
    trial_id   INTEGER,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX events_by_sweep ON events (sweep_id, id);
