"""Lay a Report out as an A4 PDF (fpdf2), then attach the proof-trail JSON and the document metadata (pypdf)."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import NamedTuple

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from pypdf import PdfReader, PdfWriter

from appliance import __version__
from appliance.reports.content import Field, Report, Section, Table, when

FONT_DIRECTORIES = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
                    Path("/usr/local/share/fonts"))
DEJAVU = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
DEJAVU_MONO = "DejaVuSansMono.ttf"
ATTACHMENT_NAME = "proof-trail.json"
AUTHOR = "NetSenX appliance"
# fpdf2 subsets the embedded fonts through fontTools, which logs every table it touches at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

NAVY = (22, 43, 72)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
ZEBRA = (244, 246, 248)
AMBER_FILL = (255, 243, 205)
AMBER_EDGE = (224, 168, 0)
AMBER_TEXT = (122, 84, 0)
HEADING_HEIGHT = 12      # mm: the gap, title and rule of a section heading
TABLE_START_HEIGHT = 20  # mm: a table's header row and first row
LABEL_WIDTH = 55  # mm: the label column of a compact section
KEEP_TOGETHER_HEIGHT = 60  # mm: sections shorter than this never split across pages


class Block(NamedTuple):
    """A run of text in one style; `boxed` draws it as a highlighted TO COMPLETE box."""

    size: float
    emphasis: str
    color: tuple[int, int, int]
    mono: bool
    line_height: float
    text: str
    boxed: bool = False


def find_font(name: str) -> Path | None:
    return next((directory / name for directory in FONT_DIRECTORIES if (directory / name).exists()), None)


class ReportPDF(FPDF):
    """A4 with a running footer. DejaVu (embedded, full Unicode) when installed, else the core Helvetica
    with anything outside Latin-1 replaced."""

    def __init__(self, report: Report) -> None:
        super().__init__(format="A4", unit="mm")
        self.report = report
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        self.unicode = all(find_font(name) for name in (*DEJAVU.values(), DEJAVU_MONO))
        if self.unicode:
            for style, name in DEJAVU.items():
                self.add_font("Body", style, str(find_font(name)))
            self.add_font("Mono", "", str(find_font(DEJAVU_MONO)))
        self.body_font, self.mono_font = ("Body", "Mono") if self.unicode else ("Helvetica", "Courier")
        self.alias_nb_pages()

    def safe(self, text: str) -> str:
        if self.unicode:
            return text
        for unicode, ascii in (("—", "-"), ("»", ">"), ("\u00d7", "x"), ("→", "->")):
            text = text.replace(unicode, ascii)
        return text.encode("latin-1", "replace").decode("latin-1")

    def text_style(self, size: float, style: str = "", color=INK, mono: bool = False) -> None:
        self.set_font(self.mono_font if mono else self.body_font, "" if mono else style, size)
        self.set_text_color(*color)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        self.text_style(7.5, color=MUTED)
        self.cell(0, 5, self.safe(f"{self.report.reference} · {self.report.title} · {AUTHOR} {__version__}"))
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    def title_block(self) -> None:
        report = self.report
        self.set_fill_color(*NAVY)
        self.rect(0, 0, self.w, 34, style="F")
        self.set_xy(self.l_margin, 8)
        self.text_style(17, "B", color=(255, 255, 255))
        self.cell(120, 9, self.safe(report.title))
        self.text_style(9, color=(200, 210, 225))
        self.cell(0, 9, self.safe(report.reference), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(120, 6, self.safe(report.subtitle))
        self.cell(0, 6, self.safe(f"Generated {when(report.generated_at)}"), align="R",
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 6, self.safe(f"To: {report.recipient}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(40)
        pending = report.to_complete()
        self.draw(Block(8.5, "B", AMBER_TEXT, False, 4.6, "DRAFT: " + (
            f"prepared from the appliance's records. {pending} field(s) marked TO COMPLETE must be filled in "
            "by the entity before submission; check every prefilled value." if pending else
            "prepared from the appliance's records: check every prefilled value before submission."), boxed=True))
        self.ln(2)

    def section_heading(self, title: str, keep_with: float) -> None:
        """The heading never ends a page: it moves down with the first `keep_with` mm of what follows."""
        if self.get_y() + HEADING_HEIGHT + keep_with > self.page_break_trigger:
            self.add_page()
        self.ln(3)
        self.text_style(11.5, "B", color=NAVY)
        self.cell(0, 7, self.safe(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*NAVY)
        self.set_line_width(0.4)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_line_width(0.2)
        self.ln(2)

    def blocks(self, field: Field) -> list[Block]:
        blocks = [Block(8, "B", MUTED, False, 4.2, field.label)]
        if field.value:
            blocks.append(Block(8 if field.mono else 9.5, "", INK, field.mono, 4.2 if field.mono else 5, field.value))
        if field.to_complete:
            blocks.append(Block(8.5, "B", AMBER_TEXT, False, 4.6, f"TO COMPLETE: {field.to_complete}", boxed=True))
        return blocks

    def draw(self, block: Block, x: float | None = None, width: float = 0, dry_run: bool = False) -> float:
        """Draw (or with dry_run only measure) a block in the column starting at x (default: the left margin);
        returns its height including the box's spacing."""
        x = self.l_margin if x is None else x
        self.text_style(block.size, block.emphasis, color=block.color, mono=block.mono)
        if block.boxed:
            self.set_fill_color(*AMBER_FILL)
            self.set_draw_color(*AMBER_EDGE)
            if not dry_run:
                self.set_y(self.get_y() + 0.8)
        self.set_x(x)
        height = self.multi_cell(width, block.line_height, self.safe(block.text), border=1 if block.boxed else 0,
                                 fill=block.boxed, padding=1.6 if block.boxed else 0, align="L",
                                 new_x=XPos.LMARGIN, new_y=YPos.NEXT, dry_run=dry_run, output="HEIGHT")
        if block.boxed and not dry_run:
            self.set_y(self.get_y() + 1)
        return height + (1.8 if block.boxed else 0)

    def height_of(self, field: Field, compact: bool = False) -> float:
        label, *values = self.blocks(field)
        if not compact:
            return sum(self.draw(block, dry_run=True) for block in (label, *values))
        return max(self.draw(label, width=LABEL_WIDTH, dry_run=True),
                   sum(self.draw(block, width=self.epw - LABEL_WIDTH, dry_run=True) for block in values)) + 1.5

    def field(self, field: Field, compact: bool = False) -> None:
        """Label above the value, or with `compact` side by side (short facts such as names and times)."""
        needed = self.height_of(field, compact)
        # Keep a field on one page when it fits on one; a longer one (many IoCs) flows on.
        if self.get_y() + needed > self.page_break_trigger and needed < self.page_break_trigger - self.t_margin:
            self.add_page()
        label, *values = self.blocks(field)
        if not compact:
            for block in (label, *values):
                self.draw(block)
            self.ln(2)
            return
        top = self.get_y()
        self.draw(label._replace(line_height=5), width=LABEL_WIDTH)
        label_bottom = self.get_y()
        self.set_y(top)
        for block in values:
            self.draw(block, x=self.l_margin + LABEL_WIDTH, width=self.epw - LABEL_WIDTH)
        self.set_y(max(label_bottom, self.get_y()) + 1.5)

    def data_table(self, table: Table) -> None:
        self.text_style(8)
        self.set_draw_color(*RULE)
        self.set_fill_color(*ZEBRA)
        with self.table(
            col_widths=table.widths, text_align="LEFT", line_height=4.4, padding=1.2,
            headings_style=FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=NAVY),
            cell_fill_color=ZEBRA, cell_fill_mode="ROWS", borders_layout="HORIZONTAL_LINES",
        ) as layout:
            header = layout.row()
            for column in table.columns:
                header.cell(self.safe(column))
            for row in table.rows:
                cells = layout.row()
                for value in row:
                    cells.cell(self.safe(value))
        self.ln(2)

    def section(self, section: Section) -> None:
        heights = [self.height_of(field, section.compact) for field in section.fields]
        whole = (TABLE_START_HEIGHT if section.table is not None else 0) + sum(heights)
        # A short section stays on one page; a long one keeps at least its start with the heading.
        first = TABLE_START_HEIGHT if section.table is not None else heights[0] if heights else 0
        self.section_heading(section.title, keep_with=whole if whole < KEEP_TOGETHER_HEIGHT else first)
        if section.table is not None:
            self.data_table(section.table)
        for field in section.fields:
            self.field(field, section.compact)
        if section.note:
            self.text_style(7.5, "I", color=MUTED)
            self.multi_cell(0, 4, self.safe(section.note), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def layout(report: Report) -> bytes:
    pdf = ReportPDF(report)
    pdf.add_page()
    pdf.title_block()
    for section in report.sections:
        pdf.section(section)
    return bytes(pdf.output())


def pdf_date(moment: float) -> str:
    return time.strftime("D:%Y%m%d%H%M%S+00'00'", time.gmtime(moment))


def render(report: Report, attachment: dict) -> bytes:
    """The finished PDF: laid out, with the attachment embedded and the metadata set."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(layout(report))))
    writer.add_attachment(ATTACHMENT_NAME, json.dumps(attachment, indent=2, sort_keys=True, default=str).encode())
    writer.add_metadata({
        "/Title": f"{report.title} — {report.reference}",
        "/Author": AUTHOR,
        "/Subject": f"{report.subtitle}; recipient: {report.recipient}",
        "/Keywords": ", ".join(report.keywords),
        "/Creator": f"{AUTHOR} {__version__}",
        "/Producer": "fpdf2 + pypdf",
        "/CreationDate": pdf_date(report.generated_at),
        "/ModDate": pdf_date(report.generated_at),
    })
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
