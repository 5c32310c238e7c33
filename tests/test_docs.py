"""Module pages: examples a user can paste, and no internals of the module contract."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gp_celery.config import parse_config
from gp_celery.config.node_keys import NODE_KEYS
from gp_celery.docs import all_docs, example_entry, example_events, is_internal, user_text
from gp_celery.modules.base import Example
from gp_celery.modules.registry import all_modules
from gp_celery.report import module_text

EXAMPLES = [
    pytest.param(doc.name, example, id=f"{doc.name}-{index}")
    for doc in all_docs()
    for index, example in enumerate(doc.examples)
]


@pytest.mark.parametrize(("name", "example"), EXAMPLES)
def test_example_entry_is_a_config_the_loader_accepts_with_the_same_options(
    name: str, example: Example
) -> None:
    config = parse_config(example_entry(name, example))
    (node,) = config.nodes
    assert node.type_name == name
    assert node.module is not None
    own = node.module.own_node_keys
    options = {
        key: value for key, value in example.options.items() if key not in NODE_KEYS or key in own
    }
    assert node.options == node.module.options_model.model_validate(options)


def test_example_without_options_is_a_bare_name() -> None:
    assert example_entry("DropEvent", Example({}, [{"data": "x"}], [])) == "- DropEvent"


def test_example_events_are_json_comments_with_the_event_type_in_the_metadata() -> None:
    example = Example({}, [{"data": "a"}, {"data": "b"}], [{"n": 1}], event_type="web")
    assert example_events(example) == [
        '# given:    {"data": "a"}',
        '#           {"data": "b"}',
        '# expected: {"n": 1, "gambolputty": {"event_type": "web"}}',
    ]
    assert example_events(Example({}, [{"data": "a"}], [])) == [
        '# given:    {"data": "a"}',
        "# expected: nothing (dropped)",
    ]


def test_every_example_block_on_a_page_is_yaml() -> None:
    for doc in all_docs():
        for example in doc.examples:
            block = example_entry(doc.name, example) + "\n" + "\n".join(example_events(example))
            loaded: Any = yaml.safe_load(block)
            assert isinstance(loaded, list)


def test_no_module_page_shows_internals() -> None:
    ours = [
        name
        for name, cls in all_modules().items()
        if cls.__module__.startswith(("gp_celery.", "gp_celery_inputs."))  # not tests' plugins
    ]
    assert "TcpServer" in ours
    shown = {doc.name: module_text(doc) for doc in all_docs() if doc.name in ours}
    assert [name for name, text in shown.items() if is_internal(text)] == []


DOCSTRING = """Reads things.

Every ``interval`` seconds (checked in ``tick()``, so at about one-second resolution) it
logs one line, and ``close()`` logs the rest. Counters are per process.

Reading happens in a daemon thread. ``stream`` may be a file (tests pass a BytesIO).

- ``a``: kept
  as it is.
- ``b``: ``serve()`` returns.

Untouched
  layout stays."""


def test_user_text_cuts_internal_parentheses_clauses_sentences_and_paragraphs() -> None:
    assert user_text(DOCSTRING) == (
        "Reads things.\n\n"
        "Every ``interval`` seconds it logs one line. Counters are per process.\n\n"
        "- ``a``: kept as it is.\n\n"
        "Untouched\n  layout stays."
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Port to listen on (0 picks a free port; see bound_port).",
            "Port to listen on (0 picks a free port).",
        ),
        (
            "Open files are kept in an LRU; ``tick()`` closes idle ones.",
            "Open files are kept in an LRU.",
        ),
        ("When it is reached ``serve()`` returns.", ""),
        ("Python's bool() and GambolPutty's readline() are not internals.", None),
    ],
)
def test_user_text_of_one_sentence(text: str, shown: str | None) -> None:
    assert user_text(text) == (text if shown is None else shown)
