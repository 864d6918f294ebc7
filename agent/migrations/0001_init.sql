-- Sessions, notes, tasks and their steps. Every row carries its owner (the API key id).
-- Turn and step content is `json`, not `jsonb`: json keeps the model's text byte for byte
-- (key order, number spelling, \u0000 escapes that jsonb rejects), and thought signatures
-- and function-call arguments must come back exactly as they were sent.

CREATE TABLE sessions (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    title       text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    turn_count  integer NOT NULL DEFAULT 0
);
CREATE INDEX sessions_owner_updated_idx ON sessions (owner, updated_at DESC, id DESC);

CREATE TABLE session_turns (
    session_id  text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    owner       text NOT NULL,
    content     json NOT NULL,
    tokens      integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE notes (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    text        text NOT NULL,
    created_at  timestamptz NOT NULL,
    search      tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX notes_search_idx ON notes USING gin (search);
CREATE INDEX notes_owner_created_idx ON notes (owner, created_at DESC);

CREATE TABLE tasks (
    id                text PRIMARY KEY,
    owner             text NOT NULL,
    prompt            text NOT NULL,
    tools             text[],
    max_steps         integer NOT NULL,
    status            text NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    result            text,
    error             text,
    steps_taken       integer NOT NULL DEFAULT 0,
    tokens_used       bigint NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL,
    idempotency_key   text,
    request_hash      text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    lease_owner       text,
    lease_expires_at  timestamptz,
    session_id        text,
    metadata          jsonb NOT NULL DEFAULT '{}',
    -- Next step number; bumped under the row lock so concurrent appends never collide.
    next_step         integer NOT NULL DEFAULT 0
);
-- The claim query: oldest queued first, only the queued rows indexed.
CREATE INDEX tasks_queued_idx ON tasks (status, created_at, id) WHERE status = 'queued';
-- The sweeper: running rows by lease expiry.
CREATE INDEX tasks_running_lease_idx ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_owner_created_idx ON tasks (owner, created_at DESC, id DESC);
CREATE UNIQUE INDEX tasks_owner_idempotency_key_idx ON tasks (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE task_steps (
    task_id     text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    owner       text NOT NULL,
    content     json NOT NULL,
    tokens      integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, seq)
);
