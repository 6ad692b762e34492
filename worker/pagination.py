"""One paginated query: a page of a statement's rows and the count of all of them, and the page
arithmetic the API's `Page` and the dashboard's page numbers share.

>>> page_count(51, 25), page_offset(3, 25), next_offset(25, 25, 51)
(3, 50, 50)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def paginate(session: Session, statement: Select[Any], limit: int, offset: int,
             count: Select[Any] | None = None) -> tuple[list[Any], int]:
    """The rows of `statement` (ordered) from `offset`, at most `limit` of them, and how many
    rows it has in all. `count`: a cheaper statement selecting the same rows (without the joins
    that only order them), counted instead of `statement`."""
    counted = (count if count is not None else statement).order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    return list(session.scalars(statement.limit(limit).offset(offset))), total


def next_offset(offset: int, limit: int, total: int) -> int | None:
    """Where the page after this one starts; None on the last page."""
    return offset + limit if offset + limit < total else None


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill (one, when there are none)."""
    return max(1, -(-total // per_page))


def page_offset(page: int, per_page: int) -> int:
    """The offset of page number `page` (from 1)."""
    return (max(page, 1) - 1) * per_page
