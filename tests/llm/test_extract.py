"""Reading uploaded files and web pages into passages (pure: no database)."""

from __future__ import annotations

import pytest

from edudesk.llm.documents import passages
from edudesk.llm.documents.extract import DocumentError, extract_file, html_to_text, safe_filename
from tests.llm.samples import BROCHURE, docx_bytes, pdf_bytes


def test_markdown_keeps_headings_and_splits_by_them() -> None:
    got = extract_file("简章.md", BROCHURE.encode())
    assert got.kind == "markdown" and got.title == "简章"
    cut = passages.split(got.text)
    assert [p.heading for p in cut] == ["课程与收费", "报名与咨询", "校区地址"]
    fee = next(p for p in cut if p.heading == "课程与收费")
    assert "3600 元" in fee.text and "0571" not in fee.text


def test_text_in_gb18030_and_utf8_bom() -> None:
    assert "学费" in extract_file("a.txt", "学费 3600 元".encode("gb18030")).text
    assert extract_file("a.txt", "\ufeff学费".encode()).text == "学费"


def test_docx_headings() -> None:
    got = extract_file("暑期.docx", docx_bytes())
    assert got.kind == "docx"
    assert "# 暑期班介绍" in got.text and "2800 元" in got.text
    assert {p.heading for p in passages.split(got.text)} == {"暑期班介绍", "上课地点"}


def test_pdf_text() -> None:
    got = extract_file("fees.pdf", pdf_bytes(["Spring term fee 3600 yuan", "Saturday 9:00"]))
    assert got.kind == "pdf" and "3600" in got.text and "Saturday" in got.text


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.md", b"", "empty"),
        ("a.exe", b"MZ....", "bad_type"),
        ("a.doc", b"\xd0\xcf\x11\xe0", "bad_type"),
        ("a.html", b"<p>x</p>", "bad_type"),
        ("a.pdf", b"hello, not a pdf", "bad_type"),
        ("a.pdf", b"%PDF-1.4\n1 0 obj garbage \x00\xff", "corrupt"),
        ("a.docx", b"PK\x03\x04 not really a zip", "corrupt"),
        ("a.docx", b"plain text", "bad_type"),
        ("a.md", b"   \n\n  ", "no_text"),
        ("a.txt", b"x" * (10 * 1024 * 1024 + 1), "too_large"),
    ],
)
def test_bad_files_get_a_specific_error(name: str, data: bytes, code: str) -> None:
    with pytest.raises(DocumentError) as caught:
        extract_file(name, data)
    assert caught.value.code == code and caught.value.field == "file" and caught.value.message


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("C:\\Users\\x\\简章.pdf", "简章.pdf"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        ("a\x00b.md", "ab.md"),
        ("..", ""),
        (".hidden.md", "hidden.md"),
    ],
)
def test_filenames_lose_their_folders(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_html_to_text_drops_scripts_and_navigation() -> None:
    html = (
        "<html><head><title>课程介绍</title><script>alert(1)</script><style>p{}</style></head><body>"
        "<nav>首页 关于</nav><main><h2>少儿编程</h2><p>每学期 <b>4200</b> 元。</p></main><footer>©</footer>"
        "</body></html>"
    )
    got = html_to_text(html)
    assert got.title == "课程介绍" and "# 少儿编程" in got.text and "4200 元" in got.text
    assert "alert" not in got.text and "首页" not in got.text


def test_long_text_is_cut_into_overlapping_passages() -> None:
    text = "# 介绍\n" + "".join(f"第{i}句话说明我们的教学方法和课程安排。" for i in range(60))
    cut = passages.split(text)
    assert len(cut) > 3 and all(len(p.text) <= 460 for p in cut)
    assert all(p.heading == "介绍" for p in cut)
    assert [p.position for p in cut] == list(range(len(cut)))
