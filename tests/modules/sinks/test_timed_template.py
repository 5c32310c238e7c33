"""Sink names with strftime and $(field): strftime never touches field references."""

from __future__ import annotations

import calendar
import time

import pytest

from gp_celery.modules.sinks.timed_template import (
    TimedTemplate,
    check_timed_template,
    literal_text,
    strftime_literals,
)

DAY_ONE = calendar.timegm((2026, 12, 1, 23, 59, 59))


def test_strftime_spares_field_references_of_both_spellings() -> None:
    when = time.gmtime(DAY_ONE)
    text = strftime_literals("logs-%Y.%m.%d-$(host)-%(kind)s", when)
    assert text == "logs-2026.12.01-$(host)-%(kind)s"


def test_a_field_value_never_reaches_strftime() -> None:
    template = TimedTemplate("logs-$(host)-%Y")
    assert template.at(DAY_ONE).render({"host": "a%Yb"}) == "logs-a%Yb-2026"


def test_the_template_follows_the_utc_date() -> None:
    template = TimedTemplate("logs-%Y.%m.%d")
    first = template.at(DAY_ONE)
    assert first.render({}) == "logs-2026.12.01"
    assert template.at(DAY_ONE + 0.5) is first  # same second: not compiled again
    assert template.at(DAY_ONE + 1).render({}) == "logs-2026.12.02"


def test_literal_text_is_the_text_without_references() -> None:
    assert literal_text("a-$(host)-%(x)s-b") == "a--s-b"


@pytest.mark.parametrize("text", ["logs-$(host", "%(x"])
def test_a_template_that_does_not_compile_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        check_timed_template(text)
