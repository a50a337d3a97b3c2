"""Conversation messages: what users and the agent said in a channel, kept 30 days.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

`conversation_messages` holds the messages of the chat channels (Discord, `bookkeeper
chat`): who, which direction, the text, and for the agent's messages about a proposal the
proposal's id and the status it told. Unlike the event log it is ordinary, mutable data:
ConversationService.purge deletes rows older than 30 days.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("user_actor", sa.Text(), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=True),
        sa.Column("proposal_status", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_conversation_direction"),
    )
    op.create_index(
        "ix_conversation_messages_channel",
        "conversation_messages",
        ["tenant_id", "channel_id", "seq"],
    )
    op.create_index("ix_conversation_messages_created_at", "conversation_messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_conversation_messages_created_at", table_name="conversation_messages")
    op.drop_index("ix_conversation_messages_channel", table_name="conversation_messages")
    op.drop_table("conversation_messages")
