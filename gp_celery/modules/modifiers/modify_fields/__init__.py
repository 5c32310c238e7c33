"""ModifyFields: GambolPutty's toolbox of field operations, one action per node."""

from __future__ import annotations

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Modifier
from gp_celery.modules.modifiers.modify_fields import convert, pairs, rename, structure, values
from gp_celery.modules.modifiers.modify_fields.options import ModifyFieldsOptions
from gp_celery.modules.registry import register

__all__ = ["ModifyFields", "ModifyFieldsOptions"]

ModifyFieldsOptions.declare_variants(
    "action",
    [
        structure.KeepOptions,
        structure.DeleteOptions,
        structure.ConcatOptions,
        structure.InsertOptions,
        values.SliceOptions,
        values.StringReplaceOptions,
        values.ReplaceOptions,
        rename.RenameOptions,
        rename.RenameRegexOptions,
        rename.RenameReplaceOptions,
        values.MapOptions,
        pairs.KeyValueOptions,
        pairs.KeyValueRegexOptions,
        structure.SplitOptions,
        values.StripOptions,
        structure.MergeOptions,
        structure.JoinOptions,
        convert.CastOptions,
        convert.CastTypeOptions,
        convert.HashOptions,
        convert.CaseOptions,
    ],
    aliases={"lower": "lowercase", "upper": "uppercase"},  # LumberMill's spellings
)


@register
class ModifyFields(Modifier[ModifyFieldsOptions]):
    """Change fields with one action: rename, delete, map, cast, hash, split, ...

    Each action has its own options (listed per action below) and checks them at load: a
    missing option, or one that belongs to another action, is a configuration error at that
    option's line (GambolPutty checked nothing). LumberMill's lower/upper are accepted for
    lowercase/uppercase.

    A missing source field is ignored, as in GambolPutty, and counted (``missing_source``).
    A value of the wrong type (a list where text is needed, ...) tags the event instead.

    Differences from GambolPutty, each to fix a trap:

    - ``map``: YAML int keys also match the same digits as text and vice versa, so the seed
      README's ``http_status`` map turns RegexParser's '200' (and an int 200) into 'OK';
      GambolPutty's lookup was type-exact and silently mapped nothing there.
    - ``cast_to_int``/``cast_to_float``: text that is no number (or NaN, infinity, out of
      range) becomes 0 / 0.0 as in GambolPutty, and the event is tagged so the substitute is
      not mistaken for real data. A list, map or None is left as it was and tagged.
      ``cast_to_int`` parses integer text exactly (GambolPutty went through float and lost
      digits).
    - ``cast_to_bool``: 'false', '0', 'no', 'off' and '' (any case) are False; GambolPutty used
      Python's bool(), for which 'false' is True.
    - ``key_value``: well-formed pairs are kept when another pair is malformed (GambolPutty
      dropped them all); a pair splits at its first separator.
    - ``insert``: a $(field) that is missing renders as '' (GambolPutty: '%(field)s').
    - ``keep``, ``rename_*`` and ``key_value*`` never remove, rename or overwrite the metadata
      (``gambolputty``); ``keep`` with a dotted name keeps the whole top-level field.
    - ``regex`` flags ``[pattern, 're.I | re.M']`` are looked up by name, never eval'd.
    - ``hash``: ``murmur`` needs mmh3 installed, else the config is rejected at load.
    - ``cast`` (``type``: int, integer, float, str, string, bool or boolean) works as the
      matching cast_to_* action; GambolPutty's was broken (it dropped every event).

    LumberMill's ``slice`` (``start``, ``end``), ``strip`` and ``rename_regex`` with
    ``replace`` (its name for ``target_field_pattern``) work as LumberMill documents them.
    ``slice`` takes text or a list; ``strip`` tags a value that is not text.
    """

    aliases = ("modifier.Field",)
    examples = [
        Example(
            options={"action": "rename", "source_field": "bytes_send", "target_field": "bytes"},
            given=[{"bytes_send": "3395"}],
            expect=[{"bytes": "3395"}],
        ),
        Example(
            options={"action": "cast_to_int", "source_fields": ["bytes_send"]},
            given=[{"bytes_send": "3395"}],
            expect=[{"bytes_send": 3395}],
        ),
        Example(
            options={"action": "cast_to_int", "source_fields": ["bytes_send"]},
            given=[{"bytes_send": "-"}],
            expect=[{"bytes_send": 0}],
            note="Text that is no number becomes 0, as in GambolPutty; the event is tagged.",
        ),
        Example(
            options={
                "action": "slice",
                "source_field": "Last name",
                "target_field": "Shorter last name",
                "start": 6,
            },
            given=[{"Last name": "Gambolputty"}],
            expect=[{"Shorter last name": "putty"}],
        ),
        Example(
            options={"action": "hash", "source_fields": ["remote_ip"]},
            given=[{"remote_ip": "192.168.2.20"}],
            expect=[{"remote_ip": "648135bd0f9420d28083fc863b9adb47"}],
        ),
        Example(
            options={"action": "map", "source_field": "http_status", "map": {200: "OK"}},
            given=[{"http_status": "200"}],
            expect=[{"http_status": "200", "http_status_mapped": "OK"}],
            note="YAML int keys match the text a regex captured (and text keys match ints).",
        ),
        Example(
            options={
                "action": "merge",
                "source_fields": ["longitude", "latitude"],
                "target_field": "geoip",
            },
            given=[{"longitude": 9.0, "latitude": 51.0}],
            expect=[{"geoip": [9.0, 51.0]}],
        ),
        Example(
            options={
                "action": "key_value",
                "source_field": "data",
                "line_separator": "&",
                "kv_separator": "=",
            },
            given=[{"data": "a=1&b=2"}],
            expect=[{"a": "1", "b": "2"}],
        ),
    ]

    def setup(self) -> None:
        self._action = self.options.build(self)

    def process(self, events: Batch) -> Batch:
        action = self._action
        for event in events:
            action(event)
        return events
