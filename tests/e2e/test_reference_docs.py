"""The project's own documents: generated parts equal the code's output, no dead links."""

from __future__ import annotations

from tests.e2e.conftest import ROOT, gp


def test_modules_md_is_what_gp_celery_modules_markdown_prints() -> None:
    result = gp("modules", "--markdown")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == (ROOT / "MODULES.md").read_text(encoding="utf-8"), (
        "MODULES.md is out of date: regenerate it with `gp-celery modules --markdown > MODULES.md`"
    )


def test_modules_markdown_documents_every_module_built_or_not() -> None:
    from gp_celery.docs import all_docs

    text = gp("modules", "--markdown").stdout.decode()
    for doc in all_docs():
        if doc.built:
            assert f"\n### {doc.name}\n" in text
            for option in doc.options:
                assert f"| `{option.name}` |" in text
        else:
            assert f"\n| `{doc.name}` | {doc.family} |" in text
