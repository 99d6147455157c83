"""The chain for the co-op admin: status page, commits (retry, amend), alarms, events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from blockchain.models import (
    Amendment,
    ChainAlarm,
    ChainDeployment,
    ChainEvent,
    MemberChainId,
    MemberRegistration,
    PeriodCommit,
)
from blockchain.selectors.status import chain_overview
from blockchain.services.operator import OperatorBusy


class ReadOnlyAdmin(admin.ModelAdmin):
    """Chain records are written by the services from what the chain says, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


def node_status() -> dict[str, Any]:
    """What the configured node says right now, or why it says nothing."""
    # Imported here for start-up cost: the node client brings in web3 (about half a second),
    # and the admin is imported by every process and manage.py command.
    from blockchain.chain.node import ChainUnavailable, chain_calls, chain_connect, chain_url

    try:
        client = chain_connect()
        with chain_calls():
            return {
                "url": chain_url(),
                "answers": True,
                "client_version": client.client_version(),
                "chain_id": client.chain_id(),
                "block": client.block_number(),
                "genesis": client.genesis_hash(),
            }
    except ChainUnavailable as exc:
        return {"url": chain_url(), "answers": False, "error": str(exc)}


@admin.register(ChainDeployment)
class ChainDeploymentAdmin(ReadOnlyAdmin):
    list_display = (
        "contract_address",
        "chain_id",
        "active",
        "deploy_block",
        "indexed_block",
        "created_at",
    )
    list_filter = ("active", "chain_id")
    change_list_template = "blockchain/admin_deployment_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "status/",
                self.admin_site.admin_view(self.status_view),
                name="blockchain_chain_status",
            ),
            *super().get_urls(),
        ]

    def status_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Chain status",
            "node": node_status(),
            **chain_overview(),
        }
        return render(request, "blockchain/admin_status.html", context)


class AmendForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        help_text="Why the database's root replaces the one on chain (kept on the record).",
    )


@admin.register(PeriodCommit)
class PeriodCommitAdmin(ReadOnlyAdmin):
    list_display = (
        "period",
        "chain_period_id",
        "status",
        "trade_count",
        "total_wh",
        "block_number",
        "gas_used",
        "attempts",
        "short_tx",
    )
    list_filter = ("status", "deployment")
    search_fields = ("chain_period_id", "tx_hash", "merkle_root")
    list_select_related = ("period", "deployment")
    actions = ["retry", "amend"]

    @admin.display(description="transaction")
    def short_tx(self, obj: PeriodCommit) -> str:
        return f"{obj.tx_hash[:12]}…" if obj.tx_hash else ""

    @admin.action(description="Try the selected failed commits again")
    def retry(self, request: HttpRequest, queryset: QuerySet[PeriodCommit]) -> None:
        # Imported here for start-up cost (web3, as in node_status).
        from blockchain.tasks import commit_pending

        count = queryset.filter(status=PeriodCommit.Status.FAILED).update(
            status=PeriodCommit.Status.PENDING, attempts=0, last_error=""
        )
        transaction.on_commit(commit_pending.delay)
        self.message_user(request, f"{count} commit(s) queued again, oldest first.")

    @admin.action(description="Amend on chain with the database's current root")
    def amend(self, request: HttpRequest, queryset: QuerySet[PeriodCommit]) -> HttpResponse | None:
        # Imported here for start-up cost (web3, as in node_status).
        from blockchain.chain.node import ChainUnavailable
        from blockchain.services.amendments import period_amend

        rows = list(
            queryset.filter(
                status__in=[PeriodCommit.Status.COMMITTED, PeriodCommit.Status.MISMATCH]
            )
        )
        if "reason" not in request.POST:
            return render(
                request,
                "blockchain/admin_amend.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Amend periods on chain",
                    "rows": rows,
                    "form": AmendForm(),
                    "ids": [r.pk for r in rows],
                },
            )
        form = AmendForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Give a reason for the amendment.", messages.ERROR)
            return None
        for row in rows:
            try:
                amendment = period_amend(
                    period_id=row.period_id, reason=form.cleaned_data["reason"]
                )
            except (ChainUnavailable, OperatorBusy, ValueError) as exc:
                self.message_user(request, f"{row.period}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{row.period}: amendment {amendment.get_status_display().lower()}."
                )
        return None


@admin.register(Amendment)
class AmendmentAdmin(ReadOnlyAdmin):
    list_display = ("original", "reason", "status", "block_number", "gas_used", "created_at")
    list_filter = ("status",)


@admin.register(ChainAlarm)
class ChainAlarmAdmin(admin.ModelAdmin):
    list_display = ("raised_at", "kind", "period", "is_open", "short_message")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    readonly_fields = (
        "kind",
        "deployment",
        "period",
        "message",
        "database_root",
        "chain_root",
        "raised_at",
        "resolved_at",
    )
    fields = (*readonly_fields, "resolution")
    actions = ["resolve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="open")
    def is_open(self, obj: ChainAlarm) -> bool:
        return obj.resolved_at is None

    @admin.display(description="message")
    def short_message(self, obj: ChainAlarm) -> str:
        return obj.message[:120]

    @admin.action(description="Mark the selected alarms resolved")
    def resolve(self, request: HttpRequest, queryset: QuerySet[ChainAlarm]) -> None:
        count = queryset.filter(resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolution=f"Resolved by {request.user.get_username()}"
        )
        self.message_user(request, f"{count} alarm(s) resolved.")


@admin.register(MemberRegistration)
class MemberRegistrationAdmin(ReadOnlyAdmin):
    list_display = ("member", "member_hash", "address", "block_number", "deployment")
    list_select_related = ("member", "deployment")


@admin.register(MemberChainId)
class MemberChainIdAdmin(ReadOnlyAdmin):
    list_display = ("member", "member_hash", "address", "created_at")
    search_fields = ("member__display_name", "member_hash", "address")


@admin.register(ChainEvent)
class ChainEventAdmin(ReadOnlyAdmin):
    list_display = ("block_number", "name", "chain_period_id", "gas_used", "tx_link")
    list_filter = ("name", "deployment")
    search_fields = ("tx_hash", "chain_period_id")

    @admin.display(description="transaction")
    def tx_link(self, obj: ChainEvent) -> SafeString:
        url = reverse("admin:blockchain_periodcommit_changelist") + f"?q={obj.tx_hash}"
        return format_html('<a href="{}">{}…</a>', url, obj.tx_hash[:14])
