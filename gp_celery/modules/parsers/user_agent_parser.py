"""UserAgentParser: browser, OS, device and device class from a User-Agent string."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field

from gp_celery.event import MISSING, Batch, Event, FieldPath, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import as_text
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, FieldNames

if TYPE_CHECKING:
    from ua_parser import Resolver

Parsed = tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]
"""What the cache holds per agent: user_agent, os and device dicts (never handed out, only
copies of them) and the device class."""

# The device-class rules follow the facts the `user-agents` package (2.2) encodes, computed
# here from ua-parser's fields: `user-agents` would parse every agent a second time with
# ua-parser's slow compatibility API (~1k agents/s cold, against ~14k with ua-parser-rs).
TABLET_DEVICES: Final = frozenset(
    {"iPad", "BlackBerry Playbook", "Blackberry Playbook", "Kindle", "Kindle Fire",
     "Kindle Fire HD", "Galaxy Tab", "Xoom", "Dell Streak"}
)  # fmt: skip
MOBILE_DEVICES: Final = frozenset(
    {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone", "PlayStation Vita",
     "iOS-Device"}
)  # fmt: skip
MOBILE_BROWSERS: Final = frozenset(
    {"IE Mobile", "Opera Mobile", "Opera Mini", "Chrome Mobile", "Chrome Mobile WebView",
     "Chrome Mobile iOS"}
)  # fmt: skip
MOBILE_OSES: Final = frozenset(
    {"Windows Phone", "Windows Phone OS", "Symbian OS", "Bada", "Windows CE", "Windows Mobile",
     "Maemo"}
)  # fmt: skip
PC_OSES: Final = frozenset({"Windows 95", "Windows 98", "Solaris"})
MOBILE_MARKERS: Final = ("J2ME", "MIDP", "iPhone;", "Googlebot-Mobile")


def _is_tablet(agent: str, browser: str, os: str, os_major: str | None, device: str) -> bool:
    if device in TABLET_DEVICES:
        return True
    if os == "Android":  # newer Android tablets leave "Mobile" out of the agent
        return "Mobile Safari" not in agent and browser != "Firefox Mobile"
    if os == "Windows" and (os_major or "").startswith("RT"):
        return True
    return os == "Firefox OS" and "Mobile" not in browser


def _is_mobile(agent: str, browser: str, os: str, device: str) -> bool:
    return (
        device in MOBILE_DEVICES
        or browser in MOBILE_BROWSERS
        or os in ("Android", "Firefox OS")  # and not a tablet: tested first
        or (os == "BlackBerry OS" and device != "Blackberry Playbook")
        or os in MOBILE_OSES
        or any(marker in agent for marker in MOBILE_MARKERS)
        or ("NokiaBrowser" in agent and "Mobile" in agent)
        or (device == "Spider" and "Mobile" in browser)
    )


def _is_pc(agent: str, os: str, os_major: str | None) -> bool:
    if "Windows NT" in agent or os in PC_OSES or (os == "Windows" and os_major == "ME"):
        return True
    if os == "Mac OS X" and "Silk" not in agent:
        return True
    if "Maemo" in agent:
        return False
    return "Chrome OS" in os or ("Linux" in agent and "X11" in agent)


def device_class(agent: str, browser: str, os: str, os_major: str | None, device: str) -> str:
    """'bot', 'tablet', 'mobile', 'pc' or 'other', the first that holds in this order."""
    if device == "Spider":
        return "bot"
    if _is_tablet(agent, browser, os, os_major, device):
        return "tablet"
    if _is_mobile(agent, browser, os, device):
        return "mobile"
    if _is_pc(agent, os, os_major):
        return "pc"
    return "other"


class UserAgentParserOptions(Options):
    source_fields: FieldNames
    """Required. Field or list of fields holding a User-Agent; each present one is parsed."""
    target_field: FieldName = "user_agent_info"
    """Where the result goes (default 'user_agent_info')."""
    cache_size: int = Field(default=8192, ge=0)
    """Most distinct agents kept parsed in this process's LRU cache (default 8192; 0: none)."""
    max_agent_chars: int = Field(default=4096, gt=0)
    """Longer agents are tagged, not parsed (default 4096 characters)."""


@register
class UserAgentParser(Parser[UserAgentParserOptions]):
    """Parse a User-Agent into browser, OS, device and a device class.

    Parsing is ua-parser 1.x with its Rust resolver (ua-parser-rs). The result has the
    shape GambolPutty wrote with ``device.brand`` and ``device.model`` added, as newer
    ua-parser versions give them, plus ``device_class``: ``{'user_agent': {family, major,
    minor, patch}, 'os': {family, major, minor, patch, patch_minor}, 'device': {family,
    brand, model}, 'device_class': ...}``. Families default to 'Other', the rest to None.

    ``device_class`` is one of 'bot', 'tablet', 'mobile', 'pc', 'other': the first of the
    ``user-agents`` package's is_bot, is_tablet, is_mobile, is_pc that holds, in that
    order, computed from the parsed fields by the same rules (one string rather than four
    flags, because the flags overlap: an iPad with Chrome is both tablet and mobile there).

    Each source field present is parsed and written to target_field, so a later field
    overwrites an earlier one; missing fields are skipped. Results are kept in an LRU
    cache of ``cache_size`` agents per process (GambolPutty kept 1000), so a repeated agent
    costs one lookup and a copy: each event gets its own dicts, never the cached ones.

    A value that is not text (GambolPutty crashed), invalid UTF-8 bytes, text with lone
    surrogates, or an agent longer than ``max_agent_chars`` is tagged and the event goes on
    without the target field. Bytes holding valid UTF-8 are parsed.
    """

    aliases = ("parser.UserAgent",)
    examples = [
        Example(
            options={"source_fields": "user_agent"},
            given=[
                {"user_agent": "Mozilla/5.0 (Windows NT 6.0; rv:33.0) Gecko/20100101 Firefox/33.0"}
            ],
            expect=[
                {
                    "user_agent": "Mozilla/5.0 (Windows NT 6.0; rv:33.0) Gecko/20100101 "
                    "Firefox/33.0",
                    "user_agent_info": {
                        "user_agent": {
                            "family": "Firefox",
                            "major": "33",
                            "minor": "0",
                            "patch": None,
                        },
                        "os": {
                            "family": "Windows",
                            "major": "Vista",
                            "minor": None,
                            "patch": None,
                            "patch_minor": None,
                        },
                        "device": {"family": "Other", "brand": None, "model": None},
                        "device_class": "pc",
                    },
                }
            ],
        ),
        Example(
            options={"source_fields": ["ua_missing", "ua"], "target_field": "agent"},
            given=[
                {"ua": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
            ],
            expect=[
                {
                    "agent": {
                        "user_agent": {
                            "family": "Googlebot",
                            "major": "2",
                            "minor": "1",
                            "patch": None,
                        },
                        "os": {
                            "family": "Other",
                            "major": None,
                            "minor": None,
                            "patch": None,
                            "patch_minor": None,
                        },
                        "device": {"family": "Spider", "brand": "Spider", "model": "Desktop"},
                        "device_class": "bot",
                    }
                }
            ],
            note="A missing source field is skipped.",
        ),
    ]

    def setup(self) -> None:
        import ua_parser

        if ua_parser.RegexResolver is not None:
            resolver: Resolver = ua_parser.RegexResolver(ua_parser.load_lazy_builtins())
        else:  # ua-parser-rs has no wheel for this platform: correct, only slower
            resolver = ua_parser.BestAvailableResolver(ua_parser.load_builtins())
        self._resolver = resolver
        self._domains = ua_parser.Domain.ALL
        self._sources: tuple[FieldPath, ...] = tuple(map(field_path, self.options.source_fields))
        self._target = field_path(self.options.target_field)
        size = self.options.cache_size
        self._parsed: Callable[[str], Parsed] = (
            lru_cache(maxsize=size)(self._parse) if size else self._parse
        )

    def _parse(self, agent: str) -> Parsed:
        """Parse one agent (raises UnicodeEncodeError for lone surrogates)."""
        result = self._resolver(agent, self._domains).complete().with_defaults()
        browser, os, device = result.user_agent, result.os, result.device
        return (
            {
                "family": browser.family,
                "major": browser.major,
                "minor": browser.minor,
                "patch": browser.patch,
            },
            {
                "family": os.family,
                "major": os.major,
                "minor": os.minor,
                "patch": os.patch,
                "patch_minor": os.patch_minor,
            },
            {"family": device.family, "brand": device.brand, "model": device.model},
            device_class(agent, browser.family, os.family, os.major, device.family),
        )

    def process(self, events: Batch) -> Batch:
        parsed, target, limit = self._parsed, self._target, self.options.max_agent_chars
        for event in events:
            for source in self._sources:
                agent = source.get(event)
                if agent is MISSING:
                    continue
                if type(agent) is not str:
                    agent = self._text(event, source, agent)
                    if agent is None:
                        continue
                if len(agent) > limit:
                    self.fail(event, f"'{source.dotted}' is over max_agent_chars={limit}")
                    continue
                try:
                    browser, os, device, kind = parsed(agent)
                except UnicodeEncodeError:
                    self.fail(event, f"'{source.dotted}' holds lone surrogates, not text")
                    continue
                target.set(
                    event,
                    {
                        "user_agent": browser.copy(),
                        "os": os.copy(),
                        "device": device.copy(),
                        "device_class": kind,
                    },
                )
        return events

    def _text(self, event: Event, source: FieldPath, value: Any) -> str | None:
        """A str (subclass too) or UTF-8 bytes as text; anything else tags the event (None)."""
        return as_text(self, event, source.dotted, value)
