"""worker claims, job results and evidence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("seeded", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("trials_claimed", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_family", sa.String(100), nullable=True),
        sa.Column("optimizer", sa.String(16), nullable=False),
        sa.Column("advisor_rank", sa.Integer(), nullable=True),
        sa.Column("n_complete", sa.Integer(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_evidence_job_id_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
        sa.UniqueConstraint("job_id", name=op.f("uq_evidence_job_id")),
    )
    op.create_index(op.f("ix_evidence_model_family"), "evidence", ["model_family"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_model_family"), table_name="evidence")
    op.drop_table("evidence")
    with op.batch_alter_table("jobs") as batch:
        for column in ("result", "retries", "trials_claimed", "seeded"):
            batch.drop_column(column)
