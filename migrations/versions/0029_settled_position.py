"""PostgreSQL: every writer of the log says, while it runs, below which position it writes
nothing; a reader that pages by position stops there (ADR 0030 addendum, 2026-12-07).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07

Positions are drawn from the identity's sequence at insert and commit in another order: a
client paging `GET /events` (or `GET /proposals`, by last position) while two writers were
in flight could be handed position 11 (committed) while 10 was still open, take 11 as its
cursor and never see 10. The snapshot cannot say which positions the transactions it sees
running hold (their rows are invisible), so each writer publishes a floor:

* `events_position_floor`, a BEFORE INSERT … FOR EACH STATEMENT trigger on `events`, reads
  the sequence's last value (`pg_sequence_last_value`: not transactional, the value drawn
  last by anyone) before the statement draws any position, and holds a shared advisory
  transaction lock whose key is that value until the transaction ends. Once per transaction
  (a transaction-local setting remembers it): its later positions are higher still. A
  savepoint rolled back lets go of both, and of the rows it drew positions for.
* `events_settled_position()` reads the sequence's last value and then the lowest floor of
  the writers that hold one; the smaller is a position at or below which no running writer
  can still commit an event. Read before the page (a statement of its own, so that the
  page's snapshot is taken after it): a writer still running then holds a floor at least
  as high, one that ended before it is in the page's snapshot, one that begins after it
  draws positions above the sequence value it read.

The lock's key is two int4 (objsubid 2 in pg_locks, apart from the int8 keys the rules and
the proposals take): the first is `FLOOR_SPACE` plus the position's upper 32 bits, the
second its lower 32 bits shifted into int4's range. The trigger costs the propose path no
round trip (it runs in the INSERT's statement). SQLite serialises writers, so positions
there commit in order and nothing is added.
"""

from __future__ import annotations

from typing import Final

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

#: The first advisory key of a writer's floor: "bkp" and 16 bits for the position's upper
#: half (0 up to 2^32 positions); apart from advisory_locks.py's "bkex".
FLOOR_SPACE: Final = 0x626B7000


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION events_position_floor() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            lowest bigint;
        BEGIN
            IF coalesce(current_setting('bookkeeper.position_floor', true), '') = '' THEN
                lowest := coalesce(pg_sequence_last_value('events_position_seq'::regclass), 0);
                PERFORM pg_advisory_xact_lock_shared(
                    ({FLOOR_SPACE} + (lowest >> 32))::int4,
                    ((lowest & 4294967295) - 2147483648)::int4
                );
                PERFORM set_config('bookkeeper.position_floor', lowest::text, true);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_position_floor BEFORE INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_position_floor()"
    )
    # As the log's other triggers (0001): also under session_replication_role = replica
    # (a restore or a replication apply), whose inserts readers page through too.
    op.execute("ALTER TABLE events ENABLE ALWAYS TRIGGER events_position_floor")
    op.execute(
        f"""
        CREATE FUNCTION events_settled_position() RETURNS bigint LANGUAGE plpgsql
        VOLATILE AS $$
        DECLARE
            head bigint;
            floor_held bigint;
        BEGIN
            -- First the sequence, then the locks: a writer that took its lock after the
            -- locks were read draws above the value read here.
            head := coalesce(pg_sequence_last_value('events_position_seq'::regclass), 0);
            SELECT min(((l.classid::bigint - {FLOOR_SPACE}) << 32)
                       | (l.objid::bigint # 2147483648))
              INTO floor_held
              FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.objsubid = 2
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.classid::bigint BETWEEN {FLOOR_SPACE} AND {FLOOR_SPACE} + 65535;
            RETURN least(head, floor_held);
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION events_settled_position()")
    op.execute("DROP TRIGGER events_position_floor ON events")
    op.execute("DROP FUNCTION events_position_floor()")
