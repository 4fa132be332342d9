"""The cohort view for clinical leads: the clinic against the published curve, and alert burden.

The numbers come from `recovery.care.cohort`; this module only turns them into the strings the
template shows (templates compute nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import render_template
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ..care.clinics import clinic_params, clinic_schedule
from ..care.cohort import alert_burden, cohort_curve
from ..care.models import utcnow
from ..clinical.cohort import (
    CLOSE_TO_PUBLISHED,
    FOLLOW_UP_DAYS,
    MIN_EPISODES_PER_POINT,
    AlertBurden,
    CohortCurve,
    curve_gap,
)
from ..translation import format_number, translate
from ..web.chart_text import chart_labels
from ..web.charts import cohort_figure
from . import bp
from .presenters import rule_label, severity_label

#: The baseline the gap is also put in NRS points for (the population mean, docs/clinical.md).
REFERENCE_BASELINE = 8
NO_VALUE = "—"


@bp.get("/cohort")
def cohort():
    """The clinic's pain relative to baseline against the published curve, and alert burden."""
    clinic = current_user.clinic
    now = utcnow()
    curve = cohort_curve(clinic.id, now, clinic_params(clinic), clinic_schedule(clinic))
    burden = alert_burden(clinic.id, now)
    return render_template(
        "staff/cohort.html",
        figure=_figure(curve),
        points=_point_rows(curve),
        summary=_summary(curve),
        sparse_note=_sparse_note(curve),
        sparse_label=_("fewer than %(n)d", n=MIN_EPISODES_PER_POINT),
        basis=_basis(curve),
        burden=_burden_table(burden),
    )


def _percent(ratio: float | None) -> str:
    return NO_VALUE if ratio is None else f"{ratio:.0%}"


def _figure(curve: CohortCurve) -> dict:
    points = curve.points
    return cohort_figure(
        hours=[p.hours for p in points],
        median=[p.median for p in points],
        q1=[p.q1 for p in points],
        q3=[p.q3 for p in points],
        n=[p.n for p in points],
        published={"hours": curve.published_hours, "ratio": curve.published_ratios},
        labels=chart_labels(),
    )


def _point_rows(curve: CohortCurve) -> list[dict]:
    return [
        {
            "label": translate(p.label),
            "n": str(p.n),
            "is_sparse": p.is_sparse,
            "median": _percent(p.median),
            # Word joiners keep "25–50%" on one line in a narrow table.
            "iqr": NO_VALUE if p.q1 is None else f"{p.q1 * 100:.0f}\u2060–\u2060{_percent(p.q3)}",
            "published": _percent(p.published),
        }
        for p in curve.points
    ]


def _summary(curve: CohortCurve) -> str:
    """One plain sentence: how far the clinic's median sits from the published curve."""
    gap = curve_gap(curve.points)
    if gap is None:
        return _(
            "Too few episodes to compare the clinic with the published curve yet: each time "
            "point needs at least %(n)d.",
            n=MIN_EPISODES_PER_POINT,
        )
    values = {
        "n": MIN_EPISODES_PER_POINT,
        "points": ", ".join(translate(p.label) for p in gap.points),
        "percent": f"{abs(gap.mean):.0%}",
        "nrs": format_number(abs(gap.mean) * REFERENCE_BASELINE),
        "baseline": REFERENCE_BASELINE,
        "largest": translate(gap.largest.label),
        "largest_gap": f"{gap.largest.median - gap.largest.published:+.0%}",
    }
    if abs(gap.mean) < CLOSE_TO_PUBLISHED:
        text = _(
            "At the time points with at least %(n)d episodes (%(points)s), the clinic's median "
            "pain is close to the published curve (within %(percent)s of baseline on average); the "
            "largest gap is at %(largest)s (%(largest_gap)s).",
            **values,
        )
    elif gap.mean > 0:
        text = _(
            "At the time points with at least %(n)d episodes (%(points)s), the clinic's median "
            "pain sits %(percent)s of baseline above the published curve on average (about "
            "%(nrs)s points for a baseline of %(baseline)d); the largest gap is at "
            "%(largest)s (%(largest_gap)s).",
            **values,
        )
    else:
        text = _(
            "At the time points with at least %(n)d episodes (%(points)s), the clinic's median "
            "pain sits %(percent)s of baseline below the published curve on average (about "
            "%(nrs)s points for a baseline of %(baseline)d); the largest gap is at "
            "%(largest)s (%(largest_gap)s).",
            **values,
        )
    return text


def _basis(curve: CohortCurve) -> str:
    text = ngettext(
        "Based on %(num)d episode with a baseline score.",
        "Based on %(num)d episodes with a baseline score.",
        curve.episodes,
    )
    if curve.without_baseline:
        text += " " + ngettext(
            "%(num)d episode without a baseline score above 0 is left out.",
            "%(num)d episodes without a baseline score above 0 are left out.",
            curve.without_baseline,
        )
    return text


def _sparse_note(curve: CohortCurve) -> str | None:
    sparse = [translate(p.label) for p in curve.points if p.is_sparse]
    if not sparse:
        return None
    return _(
        "* Fewer than %(n)d episodes behind %(points)s: a few patients can move these "
        "medians and ranges a lot.",
        n=MIN_EPISODES_PER_POINT,
        points=", ".join(sparse),
    )


def _rate_cell(burden: AlertBurden, alerts: int, days: int) -> str:
    rate = burden.per_100(alerts, days)
    return NO_VALUE if rate is None else f"{format_number(rate)} ({alerts})"


def _burden_table(burden: AlertBurden) -> dict:
    def rows(counts: dict[str, dict[int, int]], name: Callable[[str], str]) -> list[dict]:
        return [
            {
                "name": name(code),
                "cells": [_rate_cell(burden, by_days[d], d) for d in burden.days],
            }
            for code, by_days in counts.items()
        ]

    return {
        "note": _(
            "Alerts opened per 100 patient-days of follow-up (number of alerts in brackets). "
            "Follow-up runs from the procedure until the episode is closed, for at most "
            "%(days)d days.",
            days=FOLLOW_UP_DAYS,
        ),
        "periods": [_("Last %(days)d days", days=d) for d in burden.days],
        "width": len(burden.days) + 1,
        "by_rule": rows(burden.by_rule, rule_label),
        "by_severity": rows(burden.by_severity, severity_label),
        "total": [_rate_cell(burden, burden.total[d], d) for d in burden.days],
        "patient_days": [f"{burden.patient_days[d]:,.0f}" for d in burden.days],
        "episodes": [str(burden.episodes[d]) for d in burden.days],
    }
