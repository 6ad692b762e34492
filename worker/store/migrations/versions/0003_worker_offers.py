"""worker offers: what each running worker process can run, with its liveness

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_offers",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("objectives", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_offers")),
    )
    op.create_index(op.f("ix_worker_offers_expires_at"), "worker_offers", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_offers_expires_at"), table_name="worker_offers")
    op.drop_table("worker_offers")
