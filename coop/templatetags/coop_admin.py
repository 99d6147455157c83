"""Template tags for the co-op's admin pages."""

from django import template

from coop import admin_alarms

register = template.Library()


@register.simple_tag
def admin_alarm_list() -> list[admin_alarms.Alarm]:
    return admin_alarms.collect()
