"""RegexParser's examples: `gp-celery modules RegexParser` shows them and the tests run them."""

from __future__ import annotations

from typing import Final

from gp_celery.modules.base import Example

EXAMPLES: Final = [
    Example(
        options={
            "source_field": "event",
            "field_extraction_patterns": [
                {
                    "httpd_access_log": r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s+"
                    r"(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+"
                    r"\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+"
                    r"\"(?P<url>.*)\"\s+(?P<http_status>\d+)\s+(?P<bytes_send>\d+)"
                }
            ],
        },
        given=[
            {
                "event": '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ '
                'HTTP/1.0" 200 3395'
            }
        ],
        expect=[
            {
                "remote_ip": "192.168.2.20",
                "identd": "-",
                "user": "-",
                "datetime": "28/Jul/2006:10:27:10 -0300",
                "url": "GET /cgi-bin/try/ HTTP/1.0",
                "http_status": "200",
                "bytes_send": "3395",
            }
        ],
        event_type="httpd_access_log",
    ),
    Example(
        options={"field_extraction_patterns": [{"web": "%{IP:client} %{NUMBER:bytes:int}"}]},
        given=[{"data": "10.0.0.1 512"}],
        expect=[{"client": "10.0.0.1", "bytes": 512}],
        event_type="web",
        note="Grok references, with a type suffix.",
    ),
    Example(
        options={"field_extraction_patterns": {"web": r"^(?P<code>\d{3})$"}},
        given=[{"data": "no digits here"}],
        expect=[{"data": "no digits here"}],
        event_type="Unknown",
        note="No pattern matched: mark_unmatched_as, no error tag.",
    ),
    Example(
        options={"field_extraction_patterns": [{"run": r"^(?P<run>a+)+$"}]},
        given=[{"data": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}],
        expect=[{"data": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}],
        event_type="Unknown",
        note="A pattern that can backtrack catastrophically runs on RE2 (engine: auto): "
        "this line, which holds re for hours, is unmatched at once; check warns about it.",
    ),
]
