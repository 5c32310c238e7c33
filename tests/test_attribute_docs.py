"""Option descriptions come from the docstrings under the fields, read only when asked."""

from __future__ import annotations

from pydantic import Field

from gp_celery.attribute_docs import attribute_docs, field_doc
from gp_celery.modules.base import Options
from gp_celery.testing import build


class _Base(Options):
    size: int = 1
    """How many.

    Indented lines are cleaned."""
    kept: str = "a"
    """From the base."""
    explicit: int = Field(0, description="Given to Field.")


class _Child(_Base):
    size: int = 2
    """The child's own words."""
    undocumented: bool = False


def test_a_class_docstring_wins_over_its_bases_and_bases_are_read_too() -> None:
    assert attribute_docs(_Child) == {
        "size": "The child's own words.",
        "kept": "From the base.",
    }
    assert attribute_docs(_Base)["size"] == "How many.\n\nIndented lines are cleaned."


def test_field_description_wins_and_a_field_without_words_has_none() -> None:
    assert field_doc(_Child, "explicit") == "Given to Field."
    assert field_doc(_Child, "undocumented") == ""
    assert _Child.model_fields["size"].description is None  # not read when the class is made


def test_a_real_module_option_is_described() -> None:
    options = type(build("TcpServer", {"port": 0}).options)
    assert "port" in field_doc(options, "port").lower()


def test_every_option_of_every_module_is_described() -> None:
    from gp_celery.docs import option_docs
    from gp_celery.modules.registry import all_modules

    docs = [
        (name, doc.name, doc.doc)
        for name, module in all_modules().items()
        for doc in option_docs(module.options_model)
    ]
    assert len(docs) > 500
    assert [(name, option) for name, option, text in docs if not text] == []
