"""Option descriptions: the docstring under each field of an options model, read on demand.

Pydantic can read these itself (``use_attribute_docstrings``), but it does so for every
model as its class is made, reading and parsing source files: about a fifth of the start-up
of ``gp-celery run``, for text that only ``gp-celery modules`` and the reference docs show.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap

from pydantic import BaseModel


@functools.cache
def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the string literal written under it, in ``model`` or a base it has (a
    class's own docstrings win over its bases')."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if cls is BaseModel or not issubclass(cls, BaseModel):
            continue
        docs.update(_own_docs(cls))
    return docs


def field_doc(model: type[BaseModel], name: str) -> str:
    """A field's description: ``Field(description=...)`` if given, else its docstring."""
    field = model.model_fields[name]
    return field.description or attribute_docs(model).get(name, "")


def _own_docs(cls: type) -> dict[str, str]:
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # made at run time, or the source is gone: no docs
        return {}
    tree = ast.parse(textwrap.dedent(source))
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return {}
    body = tree.body[0].body
    docs = {}
    for statement, after in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(after.value.value)
    return docs
