"""Actions that convert each listed field: cast_to_*, lowercase/uppercase, hash/anonymize."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
from collections.abc import Callable
from typing import Any, Final, Literal

from pydantic import ValidationInfo, field_validator

from gp_celery.event import MISSING, Event, FieldPath, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import ModifyFieldsOptions
from gp_celery.modules.types import FieldNames

FALSE_WORDS: Final = frozenset({"false", "0", "no", "off", ""})


def cast_to_int(value: Any) -> int:
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)  # exact for big integers, which int(float(...)) is not
        except ValueError:
            pass
    if isinstance(value, (str, int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return int(number)
    raise TypeError


def cast_to_float(value: Any) -> float:
    if isinstance(value, (str, int, float)):
        return float(value)
    raise TypeError


def cast_to_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cast_to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


UNPARSABLE: Final[dict[str, Any]] = {"cast_to_int": 0, "cast_to_float": 0.0}
"""What a cast writes for text that is no number (GambolPutty's 0); the event is tagged."""

CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "cast_to_int": cast_to_int,
    "cast_to_float": cast_to_float,
    "cast_to_str": cast_to_str,
    "cast_to_bool": cast_to_bool,
}


class _PerFieldOptions(ModifyFieldsOptions):
    """What the per-field actions share: the fields they convert."""

    source_fields: FieldNames
    """The fields to convert."""

    def _per_field(
        self,
        reporter: Reporter,
        convert: Callable[[Any], Any],
        targets: tuple[str, ...] = (),
        unparsable: Any = MISSING,
    ) -> Action:
        """Apply ``convert`` to every source field, in place or into the matching target.

        A value ``convert`` rejects tags the event. A value of a type it cannot take
        (TypeError) stays as it was; a value it cannot parse (ValueError, OverflowError)
        becomes ``unparsable`` when one is given (the casts' 0), else stays too.
        """
        sources = [field_path(name) for name in self.source_fields]
        paths = [field_path(name) for name in targets] or sources
        action = self.action
        replaced = "" if unparsable is MISSING else f"; wrote {unparsable!r}"

        def per_field(event: Event) -> None:
            for source, target in zip(sources, paths, strict=True):
                value = source.get(event)
                if value is MISSING:
                    missing(reporter)
                    continue
                try:
                    converted = convert(value)
                except (ValueError, OverflowError):
                    reporter.fail(event, f"{action}: {_cannot(source, value)}{replaced}")
                    if unparsable is MISSING:
                        continue
                    converted = unparsable
                except TypeError:
                    reporter.fail(event, f"{action}: {_cannot(source, value)}")
                    continue
                if problem := set_field(target, event, converted):
                    reporter.fail(event, f"{action}: {problem}")

        return per_field


def _cannot(source: FieldPath, value: Any) -> str:
    return f"cannot convert {source.dotted!r} ({describe(value)})"


class _TargetFieldsOptions(_PerFieldOptions):
    target_fields: FieldNames = ()
    """Result fields, one per source field; empty = in place."""

    @field_validator("target_fields")
    @classmethod
    def _one_per_source(cls, targets: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        sources = info.data.get("source_fields")
        if targets and sources is not None and len(targets) != len(sources):
            raise ValueError("must have as many entries as 'source_fields'")
        return targets


class CastOptions(_PerFieldOptions):
    """Convert to int, float, str or bool; text that is no number becomes 0, tagged."""

    action: Literal["cast_to_int", "cast_to_float", "cast_to_str", "cast_to_bool"]

    def build(self, reporter: Reporter) -> Action:
        return self._per_field(
            reporter, CASTS[self.action], unparsable=UNPARSABLE.get(self.action, MISSING)
        )


CAST_TYPES: Final[dict[str, str]] = {
    "int": "cast_to_int",
    "integer": "cast_to_int",
    "float": "cast_to_float",
    "str": "cast_to_str",
    "string": "cast_to_str",
    "bool": "cast_to_bool",
    "boolean": "cast_to_bool",
}
"""The type names GambolPutty's ``cast`` took -> the cast_to_* action it meant."""


class CastTypeOptions(_PerFieldOptions):
    """Convert to the named type: cast_to_int, ... chosen by 'type' (GambolPutty's cast)."""

    action: Literal["cast"]
    type: Literal["int", "integer", "float", "str", "string", "bool", "boolean"]
    """The type to convert to; each works as the cast_to_<type> action."""

    def build(self, reporter: Reporter) -> Action:
        action = CAST_TYPES[self.type]
        return self._per_field(reporter, CASTS[action], unparsable=UNPARSABLE.get(action, MISSING))


def _text_only(method: Callable[[str], str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError
        return method(value)

    return convert


class CaseOptions(_TargetFieldsOptions):
    """Change text to lower or upper case (LumberMill's lower/upper)."""

    action: Literal["lowercase", "uppercase"]

    def build(self, reporter: Reporter) -> Action:
        method = str.lower if self.action == "lowercase" else str.upper
        return self._per_field(reporter, _text_only(method), self.target_fields)


def hasher(algorithm: str, salt: str) -> Callable[[Any], Any]:
    """Hex digest of ``salt + str(value)``; murmur: mmh3's signed 32-bit int, as GambolPutty."""
    if algorithm == "murmur":
        mmh3 = importlib.import_module("mmh3")  # checked at load; imported only when used

        def murmur(value: Any) -> Any:
            return mmh3.hash(salt + cast_to_str(value))

        return murmur

    def digest(value: Any) -> str:
        data = (salt + cast_to_str(value)).encode("utf-8", "surrogatepass")
        return hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()

    return digest


class HashOptions(_TargetFieldsOptions):
    """Replace values by their hash, or write it to target_fields (anonymize = hash)."""

    action: Literal["hash", "anonymize"]
    algorithm: str = "md5"
    """Any hashlib algorithm, or 'murmur' (needs the mmh3 package)."""
    salt: str | None = None
    """Text put in front of the value before hashing."""

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, algorithm: str) -> str:
        if algorithm == "murmur":
            if importlib.util.find_spec("mmh3") is None:
                raise ValueError("algorithm 'murmur' needs the mmh3 package: pip install mmh3")
            return algorithm
        if algorithm.startswith("shake_"):
            raise ValueError(f"algorithm {algorithm!r} needs a digest length; not supported")
        if algorithm not in hashlib.algorithms_available:
            valid = ", ".join(sorted(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"}))
            raise ValueError(f"unknown hash algorithm {algorithm!r}; valid: {valid}, murmur")
        return algorithm

    def build(self, reporter: Reporter) -> Action:
        convert = hasher(self.algorithm, self.salt or "")
        return self._per_field(reporter, convert, self.target_fields)
