"""Every position is the user's: the broken line, the filter's own line and column, the
position in the grok pattern as written, the line of the bad list entry (issue 7, part 2)."""

from __future__ import annotations

import textwrap

import pytest

from gp_celery.config import ConfigError, parse_config


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text).lstrip("\n"), "p.yml", {})
    return [str(problem) for problem in caught.value.problems]


# --- YAML syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """
            - StdIn
            - RegexParser:
                field_extraction_patterns:
                 - web: 'abc
            - StdOutSink:
                pretty_print: true
            """,
            "p.yml:4: invalid YAML: the quote at column 13 is never closed "
            "(line 7: found unexpected end of stream)",
        ),
        (
            """
            - StdOutSink:
                filter: "$(a) == 1
                pretty_print: true
            - DevNullSink:
                id: "x"
            """,
            "p.yml:2: invalid YAML: the quote at column 13 is closed only on line 5; is a "
            "closing quote missing? (line 5: expected <block end>, but found '<scalar>')",
        ),
        (
            """
            - StdIn
            - StdOutSink:
                pretty_print: true
               format: x
            - DevNullSink
            """,
            "p.yml:4: invalid YAML at column 4: expected <block end>, but found "
            "'<block mapping start>'",
        ),
        (
            """
            - StdIn:
                add_fields: {a: b
            - DevNullSink
            - DevNullSink
            """,
            "p.yml:2: invalid YAML: the '{' at column 17 is never closed "
            "(line 5: expected ',' or '}', but got '<stream end>')",
        ),
        (
            """
            - StdIn:
                multiline: true
                  port: 5
            - DevNullSink
            """,
            "p.yml:3: invalid YAML at column 11: mapping values are not allowed here",
        ),
        (
            """
            - StdIn:
                receivers:
                  - x: [a,
            """,
            "p.yml:3: invalid YAML at the end of the file: expected the node content, "
            "but found '<stream end>'",
        ),
    ],
    ids=["unclosed-quote", "quote-closed-late", "bad-indent", "unclosed-brace", "indent", "eof"],
)
def test_yaml_syntax_error_names_the_broken_line(text: str, expected: str) -> None:
    assert problems(text) == [expected]


# --- filters -----------------------------------------------------------------------------

NOT_ALLOWED = "'nope' is not allowed"


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("""
         - StdIn:
             filter: $(a) == 'x' and nope(1)
         - DevNullSink
         """, 2, 29),
        ("""
         - StdIn:
             filter: if $(a) == 'x' and nope(1)
         - DevNullSink
         """, 2, 32),
        ("""
         - StdIn:
             filter: |
               if $(a) == 1
                  and $(b) == 2
                  and nope(3)
         - DevNullSink
         """, 5, 14),
        ("""
         - StdIn:
             filter: >-
               if $(a) == 1
               and nope(3)
         - DevNullSink
         """, 4, 11),
        ("""
         - StdIn:
             filter: "if $(a) == \\"\\x41\\"
               and nope(3)"
         - DevNullSink
         """, 3, 11),
        ("""
         - StdIn:
             filter: 'if $(a) == ''x'' and
               nope(3)'
         - DevNullSink
         """, 3, 7),
        ("""
         - StdIn:
             filter: if $(a) == 'x'
               and
               nope(3)
         - DevNullSink
         """, 4, 7),
        ("""
         - StdIn:
             filter: if %(a) == 'x' and nope(1)
         - DevNullSink
         """, 2, 32),
    ],
    ids=["plain", "leading-if", "literal-block", "folded-block", "double-quoted",
         "single-quoted", "plain-multi-line", "percent-reference"],
)  # fmt: skip
def test_filter_error_names_the_filters_line_and_column(text: str, line: int, column: int) -> None:
    (found,) = problems(text)
    assert found.startswith(f"p.yml:{line}: StdIn: filter: bad filter: column {column}: ")
    assert NOT_ALLOWED in found


def test_output_filter_error_names_its_line_and_column() -> None:
    found = problems("""
        - StdIn
        - DropEvent:
            receivers:
             - DevNullSink
             - StdOutSink:
                filter: if $(gambolputty.event_type) = 'Unknown'
        - StdOutSink
        - DevNullSink
        """)
    assert found == [
        "p.yml:6: DropEvent: receivers: receiver 'StdOutSink': bad filter: column 46: "
        "assignment is not allowed (did you mean '=='?)"
    ]


def test_error_at_the_end_of_a_filter_points_after_its_last_character() -> None:
    found = problems("""
        - StdIn:
            filter: $(a) ==
        - DevNullSink
        """)
    assert found == ["p.yml:2: StdIn: filter: bad filter: column 20: unexpected end of expression"]


def test_filter_with_an_expanded_variable_falls_back_to_its_line_and_text_column() -> None:
    text = "- StdIn:\n    filter: ${F}\n- DevNullSink\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "p.yml", {"F": "$(a) == nope(1)"})
    (found,) = (str(problem) for problem in caught.value.problems)
    assert found.startswith("p.yml:2: StdIn: filter: bad filter: column 9: ")


def test_template_error_in_a_module_option_names_its_line_and_column() -> None:
    found = problems("""
        - StdIn
        - StdOutSink:
            format: |
              $(a) and
              $(b
        """)
    assert found == [
        "p.yml:5: StdOutSink: format: bad template: column 10: unexpected '\\n' in field path"
    ]


def test_grok_error_in_a_config_names_the_entry_line_and_position() -> None:
    found = problems("""
        - StdIn
        - RegexParser:
            field_extraction_patterns:
             - ok: '%{IP:client}'
             - httpd: '%{INT:n} %{INT:n}'
        - DevNullSink
        """)
    assert found == [
        "p.yml:5: RegexParser: field_extraction_patterns: entry 1 ('httpd'): bad regular "
        "expression: redefinition of group name 'n' as group 2; was group 1 at position 9 "
        "(inside %{INT:n})"
    ]


# --- list entries ------------------------------------------------------------------------


def test_bad_entry_of_a_list_option_names_the_entrys_line() -> None:
    found = problems("""
        - StdIn:
            delete_fields:
             - ok
             - 'a..b'
        - RegexParser:
            field_extraction_patterns:
             - a: 'x'
             - b: '(?P<n>'
             - c: 'y'
        - JsonParser:
            source_fields:
             - a
             - b
             - 'b..c'
        - DevNullSink
        """)
    assert found == [
        "p.yml:4: StdIn: delete_fields: invalid field path 'a..b'",
        "p.yml:8: RegexParser: field_extraction_patterns: entry 1 ('b'): bad regular "
        "expression: missing ), unterminated subpattern at position 0",
        "p.yml:14: JsonParser: source_fields: invalid field path 'b..c'",
    ]


def test_bad_receiver_entry_names_its_line() -> None:
    found = problems("""
        - StdIn:
            receivers:
             - DevNullSink
             - [nested]
             - StdOutSink:
                 fitler: $(a)
        - DevNullSink
        - StdOutSink
        """)
    assert found == [
        "p.yml:4: StdIn: receivers: expected a name or {name: {filter: ...}}, got ['nested']",
        "p.yml:6: StdIn: receivers: receiver 'StdOutSink': unknown option 'fitler' "
        "(did you mean 'filter'?)",
    ]


def test_bad_template_in_an_add_fields_key_names_the_keys_column() -> None:
    found = problems("""
        - StdIn:
            add_fields:
              ok: 1
              '$(a': '$(bb)'
        - DevNullSink
        """)
    assert found == ["p.yml:4: StdIn: add_fields: bad template: column 8: unclosed '$(': "
                     "expected ')'"]  # fmt: skip
