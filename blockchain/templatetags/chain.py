"""`{% trade_chain_status trade as chain %}` for pages of other apps (trading's trade list).

Trading cannot import blockchain (apps depend one way), so its template asks through this tag.
Statuses are per period; one request reads each period's commit once, however many trades.
"""

from typing import Any

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

from blockchain.selectors.status import period_commit_status
from trading.models import Trade

register = template.Library()


@register.simple_tag(takes_context=True)
def trade_chain_status(context: template.Context, trade: Trade) -> dict[str, Any]:
    request = context.get("request")
    cache: dict[int, dict[str, Any]] | None = (
        getattr(request, "_chain_status_by_period", None) if request else None
    )
    if cache is None:
        cache = {}
        if request is not None:
            request._chain_status_by_period = cache
    if trade.period_id not in cache:
        # Fetch every period of the page's trades at once when the page lists them.
        trades = context.get("trades") or [trade]
        wanted = {t.period_id for t in trades} - cache.keys() | {trade.period_id}
        cache.update(period_commit_status(wanted))
    return cache[trade.period_id]


@register.simple_tag(takes_context=True)
def chain_verify_script(context: template.Context) -> str:
    """The Verify button's script, once per page however many trade rows include it."""
    request = context.get("request")
    if request is not None:
        if getattr(request, "_chain_verify_script", False):
            return ""
        request._chain_verify_script = True
    return format_html('<script src="{}" defer></script>', static("js/verify.js"))
