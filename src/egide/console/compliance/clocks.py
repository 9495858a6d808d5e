"""Legal deadlines: the 72-hour breach clock, the GDPR and CSP L1111-7 clocks for rights requests.

Pure date arithmetic, so the rules are tested without a database.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

BREACH_NOTIFICATION_DELAY = timedelta(hours=72)  # GDPR art. 33.1, from awareness
CSP_EARLIEST = timedelta(hours=48)  # L1111-7: not before a 48-hour reflection period
CSP_LATEST = timedelta(days=8)  # L1111-7: at most 8 days after the request
CSP_LATEST_OLD_MONTHS = 2  # L1111-7: 2 months when the information is more than 5 years old
GDPR_MONTHS = 1  # art. 12.3: one month
GDPR_EXTENSION_MONTHS = 2  # art. 12.3: extendable by two months, the person being told


def add_months(moment: datetime, months: int) -> datetime:
    """Same day N months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def breach_deadline(aware_at: datetime) -> datetime:
    return aware_at + BREACH_NOTIFICATION_DELAY


@dataclass(frozen=True)
class RightsClocks:
    gdpr_deadline: datetime
    csp_earliest: datetime | None
    csp_deadline: datetime | None

    @property
    def binding_deadline(self) -> datetime:
        """The deadline to meet: the CSP one for the medical record (special rule), else GDPR."""
        return self.csp_deadline if self.csp_deadline is not None else self.gdpr_deadline


def rights_clocks(
    received_at: datetime, *, medical_record: bool, older_than_5_years: bool, extended: bool
) -> RightsClocks:
    months = GDPR_MONTHS + (GDPR_EXTENSION_MONTHS if extended else 0)
    gdpr = add_months(received_at, months)
    if not medical_record:
        return RightsClocks(gdpr, None, None)
    latest = (
        add_months(received_at, CSP_LATEST_OLD_MONTHS)
        if older_than_5_years
        else received_at + CSP_LATEST
    )
    return RightsClocks(gdpr, received_at + CSP_EARLIEST, latest)
