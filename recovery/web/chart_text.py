"""The charts' words in the current language (recovery.web.charts marks them with N_)."""

from flask_babel import gettext

from .charts import DEFAULT_LABELS


def chart_labels() -> dict[str, str]:
    """Every chart label, translated for this request."""
    return {key: gettext(text) for key, text in DEFAULT_LABELS.items()}
