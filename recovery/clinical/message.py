"""Text for people, kept as a message id and its values until it is shown (pure).

The clinical modules explain themselves in words ("7/10 at 24 h; expected 3.3, red line
6.5") but must not depend on Flask-Babel. They build a `Message` instead: a template marked
with `N_` for extraction (`make messages`) and named values, some of them Messages too.
`str()` gives English, as the backtest, the API and the exports carry it; `render(gettext)`
gives the reader's language; `to_json` / `from_json` store it beside the English.

Templates with values use %-formatting with named placeholders only, so a literal percent
sign belongs in a value ("30%"), never in the template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def N_(text: str) -> str:  # noqa: N802 - the conventional name, a keyword for extraction
    """Mark `text` for translation without translating it here."""
    return text


@dataclass(frozen=True)
class Message:
    """A template and its named values; values may be Messages (translated in turn)."""

    template: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str] = str) -> str:
        """The text, with `translate` applied to this template and every nested one."""
        text = translate(self.template)
        if not self.values:
            return text
        return text % {
            name: value.render(translate) if isinstance(value, Message) else value
            for name, value in self.values.items()
        }

    def __str__(self) -> str:
        return self.render()

    def __hash__(self) -> int:
        return hash((self.template, tuple(sorted(self.values.items()))))

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form: {"t": template, "v": {name: value or nested form}}."""
        out: dict[str, Any] = {"t": self.template}
        if self.values:
            out["v"] = {
                name: value.to_json() if isinstance(value, Message) else value
                for name, value in self.values.items()
            }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """The Message that `to_json` gave `data` for."""
        values = {
            name: cls.from_json(value) if isinstance(value, Mapping) else value
            for name, value in (data.get("v") or {}).items()
        }
        return cls(str(data["t"]), values)


def joined_parts(message: Message | str, separator: str) -> list[Message | str]:
    """The parts of a message `join` made with `separator`, or [message] for any other, so
    that adding a part keeps one flat list instead of nesting a join in a join."""
    if isinstance(message, Message) and message.values:
        count = len(message.values)
        if message.template == join([""] * count, separator).template:
            return [message.values[f"p{i}"] for i in range(count)]
    return [message]


def join(parts: list[Message | str], separator: str = "; ") -> Message:
    """Parts shown one after the other; the separator is punctuation, not words."""
    escaped = separator.replace("%", "%%")
    template = escaped.join(f"%(p{i})s" for i in range(len(parts)))
    return Message(template, {f"p{i}": part for i, part in enumerate(parts)})
