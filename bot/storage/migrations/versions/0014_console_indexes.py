"""Indexes for the console at a year's size: open cases by status, the
family's unread messages by kind

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:00:00

Hand-written (issue 29). Found by tests/test_query_plans.py on a seeded year
(bench.seed_year: 20,000 cases and their histories), where PostgreSQL read
whole tables for two statements every console page runs:

- The queue opens on the open cases of every village the viewer oversees
  (`status IN ('baru', 'diambil', 'diproses')`, urgent first, oldest first).
  For a satgas the village comes first and ix_cases_village_status serves
  it; for a coordinator of every village no index started with the status,
  so every page and its count read all the cases. Open cases are a few
  percent of them.
- The unread badge in the menu (bot.kelola.unread) looks for the family's
  messages (`kind IN ('balasan_pelapor', ...)`) in open cases newer than the
  viewer last read: with no index on the kind it read every case event, on
  every page. (kind, case_id, id) answers it from the index alone, and the
  queue's count per case on a page too.

Index builds only: no row changes.
"""
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_status", "cases", ["status"], unique=False)
    op.create_index("ix_case_events_kind_case", "case_events", ["kind", "case_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_events_kind_case", table_name="case_events")
    op.drop_index("ix_cases_status", table_name="cases")
