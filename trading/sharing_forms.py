"""The resident's forms on "Sharing and gifts": a partner by their code and a price, and a gift
to the hardship pool. They only parse what was typed; trading.services.sharing checks the
ranges and refuses (its messages land on these forms' fields)."""

from __future__ import annotations

from django import forms

from trading.sharing_models import CODE_LENGTH


def _number(
    label: str, help_text: str, places: int, what: str, *, required: bool = True
) -> forms.DecimalField:
    """A number typed on the page; `what` names it in messages (Django formats them with
    %-parameters, so it carries no percent sign)."""
    decimals = f"{places} decimal place{'' if places == 1 else 's'}"
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=required,
        decimal_places=places,
        widget=forms.NumberInput(attrs={"step": f"{10**-places:.{places}f}", "min": "0"}),
        error_messages={
            "required": f"Give the {what}.",
            "invalid": f"Give the {what} as a number.",
            "max_decimal_places": f"Give the {what} to at most {decimals}.",
        },
    )


class PartnerAddForm(forms.Form):
    code = forms.CharField(
        label="Their partner code",
        max_length=CODE_LENGTH + 4,  # room for the spaces or dash people copy with it
        help_text="The 8-character code your partner gave you.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Give the partner code your partner gave you."},
    )
    price_c = _number(
        "Price (c/kWh)",
        "Excluding GST; 0 shares for free. The network charge is still the distributor's.",
        4,
        "price in c/kWh",
    )


class GiftPledgeForm(forms.Form):
    share_pct = _number(
        "Share of my surplus (%)",
        "From 0 to 100% of what you offer each period.",
        1,
        "share of your surplus in percent",
    )
    monthly_cap_kwh = _number(
        "At most (kWh a month)", "Empty: no monthly cap.", 3, "monthly cap in kWh", required=False
    )
