"""Plain text out of what an admin uploads or names: PDF (pypdf), DOCX (python-docx), Markdown, plain text and
HTML (selectolax). Headings are kept as Markdown-style "# " lines, so the splitter can cut at them.

Every file is untrusted input: the type is decided by its content (magic bytes) as well as its name, sizes are
checked before parsing, and a parser's failure on a corrupt file becomes a clear error, never a 500.

The parsers are imported by the first document that needs them: together they cost ~35 MB in every process that
imports them, and the large-model assist is off unless an org configures it.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from edudesk.errors import DomainError

MAX_BYTES = 10 * 1024 * 1024
MAX_CHARS = 500_000
MAX_PDF_PAGES = 500
# A DOCX is a zip: its parts are checked before python-docx inflates them (a zip bomb is a few KB).
MAX_UNZIPPED = 64 * 1024 * 1024
KINDS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
}
ACCEPT = ".pdf,.docx,.md,.markdown,.txt"


class DocumentError(DomainError):
    pass


@dataclass(frozen=True)
class Extracted:
    kind: str
    text: str
    title: str = ""


def safe_filename(name: str) -> str:
    """The file's own name, without any folder a browser or a hostile client put before it ("../../etc/passwd",
    "C:\\x\\a.pdf"), control characters or NUL; at most 200 characters."""
    base = PureWindowsPath(PurePosixPath(name.replace("\x00", "")).name).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return base[:200]


def kind_of(filename: str, data: bytes) -> str:
    suffix = PurePosixPath(filename.lower()).suffix
    kind = KINDS.get(suffix)
    if kind is None or kind == "html":
        raise DocumentError("bad_type", "只支持 PDF、Word（.docx）、Markdown（.md）和纯文本（.txt）文件", "file")
    if kind == "pdf" and not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("bad_type", "文件扩展名是 .pdf，但内容不是 PDF", "file")
    if kind == "docx" and not data.startswith(b"PK"):
        raise DocumentError("bad_type", "文件扩展名是 .docx，但内容不是 Word 文档（旧版 .doc 请另存为 .docx）", "file")
    return kind


def too_large(limit: int) -> DocumentError:
    return DocumentError("too_large", f"文件不能超过 {limit // (1024 * 1024)} MB", "file")


def extract_file(filename: str, data: bytes, limit: int = MAX_BYTES) -> Extracted:
    if not data:
        raise DocumentError("empty", "文件是空的", "file")
    if len(data) > limit:
        raise too_large(limit)
    kind = kind_of(filename, data)
    if kind == "pdf":
        text = _pdf(data)
    elif kind == "docx":
        text = _docx(data)
    else:
        text = _decode(data)
    return Extracted(kind, _finish(text), PurePosixPath(safe_filename(filename)).stem[:200])


def _finish(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = re.sub(r"[ \t\u3000]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise DocumentError("no_text", "没有从文件中读出文字（扫描版 PDF 需要先做文字识别）", "file")
    if len(text) > MAX_CHARS:
        raise DocumentError("too_long", f"文字太多（超过 {MAX_CHARS:,} 字），请拆成几个文件上传", "file")
    return text


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError("bad_encoding", "无法识别文件编码，请另存为 UTF-8", "file")


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentError("encrypted", "PDF 有密码保护，请去掉密码后再上传", "file")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentError("too_long", f"PDF 不能超过 {MAX_PDF_PAGES} 页", "file")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except (
        PdfReadError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        RecursionError,
        AssertionError,
        ZeroDivisionError,
    ):
        raise DocumentError("corrupt", "PDF 文件已损坏或无法读取", "file") from None
    return "\n\n".join(pages)


def _docx(data: bytes) -> str:
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > MAX_UNZIPPED:
                raise DocumentError("too_large", "Word 文档解压后过大", "file")
            if "word/document.xml" not in archive.namelist():
                raise DocumentError("corrupt", "Word 文档已损坏或无法读取", "file")
        document = docx.Document(io.BytesIO(data))
    except DocumentError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, TypeError, AttributeError):
        raise DocumentError("corrupt", "Word 文档已损坏或无法读取", "file") from None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            lines.append("")
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")) or style.startswith("标题"):
            lines.extend(["", f"# {text}", ""])
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            lines.append(" | ".join(dict.fromkeys(c for c in cells if c)))
    return "\n".join(lines)


def html_to_text(html: str) -> Extracted:
    """The readable text of a web page: scripts, styles, navigation and footers dropped; headings kept."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True)[:200] if title_node is not None else ""
    for selector in (
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "iframe",
        "nav",
        "footer",
        "header",
        "form",
        "aside",
    ):
        for node in tree.css(selector):
            node.decompose()
    body = tree.css_first("main") or tree.css_first("article") or tree.body
    if body is None:
        raise DocumentError("no_text", "网页中没有可读的文字", "url")
    lines: list[str] = []
    blocks = "h1, h2, h3, h4, p, li, td, th, pre, blockquote, dt, dd"
    for node in body.css(blocks):
        if len(node.css(blocks)) > 1:
            continue  # a container (lexbor's css() includes the node itself): its children are read on their own
        text = " ".join(node.text(separator=" ").split())
        if not text:
            continue
        lines.append(f"\n# {text}\n" if node.tag in ("h1", "h2", "h3", "h4") else text)
    if not lines:
        lines = [body.text(separator="\n")]
    try:
        return Extracted("html", _finish("\n".join(lines)), title)
    except DocumentError as exc:
        raise DocumentError(exc.code, exc.message.replace("文件", "网页"), "url") from None
