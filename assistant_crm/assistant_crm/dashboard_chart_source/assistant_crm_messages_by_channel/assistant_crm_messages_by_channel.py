# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt
"""Chart source: messages per day (or week, month) with one line per channel."""

import frappe
from frappe import _
from frappe.utils import getdate, nowdate
from frappe.utils.dateutils import (
    get_dates_from_timegrain,
    get_from_date_from_timespan,
    get_period,
    get_period_beginning,
)


@frappe.whitelist()
def get(
    chart_name=None,
    chart=None,
    no_cache=None,
    filters=None,
    from_date=None,
    to_date=None,
    timespan=None,
    time_interval=None,
    heatmap_year=None,
):
    frappe.has_permission("Chat History", throw=True)
    time_interval = time_interval or "Daily"
    to_date = getdate(to_date or nowdate())
    if from_date and timespan == "Select Date Range":
        from_date = getdate(from_date)
    else:
        from_date = getdate(get_from_date_from_timespan(to_date, timespan or "Last Month"))

    rows = frappe.db.sql(
        """
        select date(creation) as day, ifnull(channel, '') as channel, count(*) as messages
        from `tabChat History`
        where date(creation) between %(from_date)s and %(to_date)s
        group by date(creation), ifnull(channel, '')
        """,
        {"from_date": from_date, "to_date": to_date},
        as_dict=True,
    )
    periods = [getdate(d) for d in get_dates_from_timegrain(from_date, to_date, time_interval)]
    starts = [getdate(get_period_beginning(p, time_interval)) for p in periods]
    series: dict[str, list[int]] = {}
    for row in rows:
        start = getdate(get_period_beginning(row.day, time_interval))
        if start not in starts:
            continue
        values = series.setdefault(row.channel or _("unknown"), [0] * len(periods))
        values[starts.index(start)] += int(row.messages)
    return {
        "labels": [get_period(p, time_interval) for p in periods],
        "datasets": [{"name": channel, "values": values} for channel, values in sorted(series.items())],
        "type": "line",
    }
