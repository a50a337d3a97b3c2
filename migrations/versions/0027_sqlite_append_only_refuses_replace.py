"""SQLite: REPLACE on the chain, the seals and the purge record is refused (ADR 0024).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07

0011 and 0014 made `event_chain`, `seals` and `document_purges` append-only on SQLite with
BEFORE UPDATE and BEFORE DELETE triggers. `INSERT OR REPLACE` (or `REPLACE INTO`) deletes
the row it collides with without firing DELETE triggers (unless recursive_triggers is on),
so a seal, a chain hash or a purge record could be rewritten with plain SQL, where the
same statement on `events` (0001) and `documents` (0014) is stopped. An INSERT that would
collide with a stored row on a key is now refused before SQLite gets to replace it.

Refused (ABORT), not dropped (IGNORE) as for `events`: the sealer inserts a block's rows
with a plain INSERT and takes the IntegrityError as "another sealer stored this block
first" (adapters/sql/seal.py); the trigger's error is one (SQLITE_CONSTRAINT_TRIGGER).
`document_purges.id` is the rowid, NULL in NEW for an ordinary insert: only an insert that
names a stored id can collide. PostgreSQL has no REPLACE; its `ON CONFLICT DO UPDATE`
fires the UPDATE triggers 0011 and 0014 already have.
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

#: Each table and the condition under which an INSERT would replace one of its rows: its
#: primary key and unique constraints.
COLLISIONS = {
    "event_chain": "position = NEW.position",
    "seals": "number = NEW.number OR first_position = NEW.first_position",
    "document_purges": "id = NEW.id",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, collides in COLLISIONS.items():
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {collides}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in COLLISIONS:
        op.execute(f"DROP TRIGGER {table}_no_replace")
