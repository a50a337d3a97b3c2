"""/patterns: the merchant patterns a reviewer approved for the tenant, a page at a time
(`limit`, `cursor` = the previous page's `nextCursor`), as the general ledger pages."""

import base64
import binascii

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException

from bookkeeper.application.queries import Queries
from bookkeeper.entrypoints.http.params import Cursor, Limit, page_limit
from bookkeeper.entrypoints.http.problems import documented
from bookkeeper.entrypoints.http.security import AuthenticatedRequest
from bookkeeper.entrypoints.http.wire import PatternList, pattern_out

#: A cursor longer than this is no cursor of ours (a merchant key, encoded).


def pattern_cursor(merchant_key: str) -> str:
    """The opaque cursor after a pattern: its merchant key, base64url without padding."""
    return base64.urlsafe_b64encode(merchant_key.encode()).rstrip(b"=").decode()


def _after(cursor: str | None) -> str:
    """The merchant key a cursor names ("" for none); a 400 naming `cursor` if it is none
    of ours."""
    if not cursor:
        return ""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = raw.decode()
    except (binascii.Error, ValueError):
        key = None
    if key is None or not key or pattern_cursor(key) != cursor:
        message = "not a cursor of this list (use the previous page's nextCursor)"
        raise ValidationException(
            f"cursor: {message}",
            extra=[{"key": "cursor", "source": "query", "message": message}],
        )
    return key


class PatternController(Controller):
    """Applied merchant patterns."""

    path = "/patterns"
    tags = ["patterns"]  # noqa: RUF012 - Litestar reads these class attributes

    @get(
        "/",
        operation_id="listPatterns",
        summary="Applied merchant patterns",
        responses=documented(400, 401, 403),
    )
    async def list_patterns(
        self,
        request: AuthenticatedRequest,
        queries: NamedDependency[Queries],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> PatternList:
        """The tenant's applied patterns (merchant → account and VAT rate) by merchant
        key, `limit` at a time; `nextCursor` is the next page's `cursor` (null: the last
        page)."""
        size = page_limit(limit)
        views = await queries.pattern_page(request.user, _after(cursor), size)
        return PatternList(
            items=[pattern_out(p) for p in views],
            next_cursor=pattern_cursor(views[-1].merchant_key) if len(views) == size else None,
        )
