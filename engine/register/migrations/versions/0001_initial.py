"""The register's first schema: runs, their files, figures, table counts, rejected rows; payments.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("superseded_by", sa.Integer, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("rules_sha256", sa.String(64), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("n_conventions", sa.Integer, nullable=False),
        sa.Column("earned_cents", sa.BigInteger, nullable=False),
        sa.Column("paid_cents", sa.BigInteger, nullable=False),
        sa.Column("solde_cents", sa.BigInteger, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
    )
    op.create_index(
        "uq_runs_current_label",
        "runs",
        ["label"],
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    )
    op.create_table(
        "run_files",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=True),
    )
    op.create_table(
        "run_conventions",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("convention_id", sa.String(100), primary_key=True),
        sa.Column("dispositif", sa.String(50), nullable=False),
        sa.Column("structure", sa.String(200), nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("quantitative_score", sa.Float, nullable=True),
        sa.Column("qualitative_score", sa.Float, nullable=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("earned_cents", sa.BigInteger, nullable=False),
        sa.Column("paid_cents", sa.BigInteger, nullable=False),
        sa.Column("solde_cents", sa.BigInteger, nullable=False),
        sa.Column("paid_origin", sa.String(20), nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("decisions", sa.JSON, nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("next_instalment", sa.JSON, nullable=True),
    )
    op.create_table(
        "run_indicators",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("convention_id", sa.String(100), primary_key=True),
        sa.Column("indicator_id", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("numerator", sa.BigInteger, nullable=True),
        sa.Column("denominator", sa.BigInteger, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("evaluable", sa.Boolean, nullable=False),
    )
    op.create_table(
        "run_tables",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("table_name", sa.String(100), primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("kept", sa.BigInteger, nullable=False),
        sa.Column("rejected", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_rejected",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("table_name", sa.String(100), nullable=False),
        sa.Column("file", sa.String(500), nullable=True),
        sa.Column("line", sa.BigInteger, nullable=True),
        sa.Column("column_name", sa.String(200), nullable=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_run_rejected_run_id", "run_rejected", ["run_id"])
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("convention_id", sa.String(100), nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("convention_id", "reference", name="uq_payments_reference"),
    )
    op.create_index("ix_payments_convention_id", "payments", ["convention_id"])


def downgrade() -> None:
    """Drop every table."""
    for table in ("payments", "run_rejected", "run_tables", "run_indicators", "run_conventions", "run_files"):
        op.drop_table(table)
    op.drop_index("uq_runs_current_label", table_name="runs")
    op.drop_table("runs")
