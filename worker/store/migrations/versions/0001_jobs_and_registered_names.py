"""jobs and registered_names

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATES = "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"
KINDS = "kind IN ('objective', 'dataset')"


def _timestamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("objective", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("sampler", sa.String(16), nullable=False),
        sa.Column("pruner", sa.String(24), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("tune", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("recommendation", sa.JSON(), nullable=False),
        sa.Column("search_space", sa.JSON(), nullable=False),
        sa.Column("study_name", sa.String(128), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        _timestamp("heartbeat_at", nullable=True),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.CheckConstraint(STATES, name=op.f("ck_jobs_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("study_name", name=op.f("uq_jobs_study_name")),
    )
    op.create_index(op.f("ix_jobs_state_id"), "jobs", ["state", "id"])
    op.create_table(
        "registered_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=True),
        _timestamp("seen_at"),
        sa.CheckConstraint(KINDS, name=op.f("ck_registered_names_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_names")),
        sa.UniqueConstraint("kind", "name", "host",
                            name=op.f("uq_registered_names_kind_name_host")),
    )


def downgrade() -> None:
    op.drop_table("registered_names")
    op.drop_index(op.f("ix_jobs_state_id"), table_name="jobs")
    op.drop_table("jobs")
