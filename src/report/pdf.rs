//! The PDF format: the board report. A4 pages, a title page with the period and the
//! headline figures, the charts, then every section; page numbers in the footer.
//!
//! Written with `pdf-writer` (typst's low-level PDF crate: no dependencies of its own but
//! `ryu`, builds in seconds) rather than printpdf (a larger tree with its own layout
//! engine) or typst as a library (hundreds of crates, minutes of release build). The text
//! face is the same embedded DejaVu Sans subset the charts use, written as a TrueType font
//! with WinAnsi encoding, so the file renders the same everywhere and needs no font on
//! the reader's side. Charts are the PNGs' pixels, deflated.

use std::io::Write as _;

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::chart::{Chart, FONT, FONT_BOLD};
use super::model::{Report, Status, Table};
use super::text;

mod font;
use font::{Face, encode_winansi, write_font};

const A4: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Lays out pages top to bottom.
struct Layout {
    regular: Face,
    bold: Face,
    pages: Vec<Content>,
    /// Charts placed: (page, chart index, y, height).
    images: Vec<(usize, usize, f32, f32)>,
    y: f32,
}

impl Layout {
    fn new() -> Result<Layout, String> {
        Ok(Layout {
            regular: Face::load(FONT)?,
            bold: Face::load(FONT_BOLD)?,
            pages: vec![Content::new()],
            images: Vec::new(),
            y: A4.1 - MARGIN,
        })
    }

    fn new_page(&mut self) {
        self.pages.push(Content::new());
        self.y = A4.1 - MARGIN;
    }

    /// Makes room for `height` points, starting a page if needed.
    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, y: f32, text: &str, size: f32, bold: bool, grey: f32) {
        let page = self.pages.last_mut().expect("a page");
        page.set_fill_gray(grey);
        page.begin_text();
        page.set_font(if bold { BOLD } else { REGULAR }, size);
        page.next_line(x, y);
        page.show(Str(&encode_winansi(text)));
        page.end_text();
    }

    /// A line of text at the cursor, cut with "…" to the page width.
    fn line(&mut self, text: &str, size: f32, bold: bool) {
        self.room(size * 1.5);
        self.y -= size * 1.4;
        let fitted = self.fit(text, size, bold, A4.0 - 2.0 * MARGIN);
        self.text_at(MARGIN, self.y, &fitted, size, bold, 0.1);
    }

    fn fit(&self, text: &str, size: f32, bold: bool, width: f32) -> String {
        let face = if bold { &self.bold } else { &self.regular };
        if face.width(text, size) <= width {
            return text.to_owned();
        }
        let mut cut: String = text.to_owned();
        while !cut.is_empty() && face.width(&format!("{cut}…"), size) > width {
            cut.pop();
        }
        format!("{cut}…")
    }

    /// A label on the left and a value right-aligned in a column, and a note after it.
    fn row(&mut self, label: &str, value: &str, note: &str, size: f32) {
        self.room(size * 1.5);
        self.y -= size * 1.45;
        let value_right = MARGIN + 330.0;
        let label = self.fit(label, size, false, 230.0);
        self.text_at(MARGIN, self.y, &label, size, false, 0.15);
        let w = self.bold.width(value, size);
        self.text_at(value_right - w, self.y, value, size, true, 0.05);
        let note = self.fit(note, size * 0.9, false, A4.0 - MARGIN - value_right - 16.0);
        self.text_at(value_right + 16.0, self.y, &note, size * 0.9, false, 0.45);
    }

    fn rule(&mut self) {
        self.y -= 6.0;
        let page = self.pages.last_mut().expect("a page");
        page.set_stroke_gray(0.8);
        page.set_line_width(0.5);
        page.move_to(MARGIN, self.y);
        page.line_to(A4.0 - MARGIN, self.y);
        page.stroke();
    }
}

/// Renders `report` with `charts` as a paginated PDF.
pub fn render(report: &Report, charts: &[Chart], without_data: &[&str]) -> Result<Vec<u8>, String> {
    let mut layout = Layout::new()?;
    title_page(&mut layout, report);
    layout.new_page();
    chart_pages(&mut layout, charts, without_data);
    for s in &report.sections {
        layout.room(60.0);
        layout.y -= 10.0;
        layout.line(s.title, 16.0, true);
        layout.rule();
        for f in &s.figures {
            layout.row(
                &f.title,
                &text::maybe(f.value, f.unit),
                &text::compared(f),
                10.5,
            );
        }
        for t in &s.tables {
            table(&mut layout, t);
        }
    }
    if !report.missing.is_empty() {
        layout.y -= 10.0;
        layout.line("No data for:", 10.0, true);
        for chunk in report.missing.chunks(4) {
            layout.line(&chunk.join(", "), 9.0, false);
        }
    }
    assemble(layout, report, charts)
}

fn title_page(layout: &mut Layout, report: &Report) {
    layout.y = A4.1 - 200.0;
    layout.line("llmwatch", 14.0, true);
    layout.y -= 10.0;
    layout.line(&report.title, 30.0, true);
    layout.y -= 14.0;
    layout.line(
        &format!(
            "{} to {}",
            day(&report.period.start),
            day(&report.period.end)
        ),
        13.0,
        false,
    );
    layout.line(
        &format!(
            "compared with {} to {}",
            day(&report.previous_period.start),
            day(&report.previous_period.end)
        ),
        10.0,
        false,
    );
    layout.y -= 30.0;
    if let Some(from) = &report.data_from {
        layout.line(
            &format!("Partial period: data from {} only", day(from)),
            11.0,
            true,
        );
    }
    if report.status == Status::Empty {
        layout.line(
            "No data: Prometheus has no LLM calls or spend for this period.",
            13.0,
            true,
        );
    }
    headline_figures(layout, report);
    colophon(layout, report);
}

/// An RFC 3339 time as a day and time in UTC.
fn day(t: &str) -> String {
    t.replace('T', " ").replace('Z', " UTC")
}

/// The title page's headline figures, each with its change against the previous period.
fn headline_figures(layout: &mut Layout, report: &Report) {
    for id in [
        "spend.total",
        "spend.budget_used",
        "usage.calls",
        "usage.error_rate",
        "product.dau",
        "product.mau",
        "product.satisfaction",
    ] {
        if let Some(f) = report.figure(id) {
            let note = if f.previous.is_some() {
                format!("{} vs previous", text::change(f.change))
            } else {
                String::new()
            };
            layout.row(&f.title, &text::maybe(f.value, f.unit), &note, 13.0);
        }
    }
}

/// When and from which Prometheus the report was generated, and what its figures mean.
fn colophon(layout: &mut Layout, report: &Report) {
    layout.y = MARGIN + 40.0;
    layout.line(
        &format!(
            "Generated {} from {}",
            day(&report.generated_at),
            report.prometheus
        ),
        8.5,
        false,
    );
    layout.line(
        "Figures are Prometheus queries over the period; \"no data\" means none was recorded.",
        8.5,
        false,
    );
}

fn chart_pages(layout: &mut Layout, charts: &[Chart], without_data: &[&str]) {
    let width = A4.0 - 2.0 * MARGIN;
    for (i, c) in charts.iter().enumerate() {
        let height = width * c.height as f32 / c.width as f32;
        layout.room(height + 40.0);
        layout.y -= height;
        layout
            .images
            .push((layout.pages.len() - 1, i, layout.y, height));
        let alt = layout.fit(&c.alt, 7.5, false, width);
        layout.y -= 12.0;
        layout.text_at(MARGIN, layout.y, &alt, 7.5, false, 0.4);
        layout.y -= 16.0;
    }
    if !without_data.is_empty() {
        layout.line(
            &format!("Charts without data: {}", without_data.join(", ")),
            10.0,
            false,
        );
    }
}

fn table(layout: &mut Layout, t: &Table) {
    layout.room(40.0);
    layout.y -= 6.0;
    layout.line(&t.title, 11.5, true);
    if t.rows.is_empty() {
        layout.row("no data", "", "", 10.0);
        return;
    }
    for r in &t.rows {
        layout.row(&r.key(&t.labels), &text::value(r.value, t.unit), "", 10.0);
    }
}

/// Fonts, images, pages with their footers, and the document info.
fn assemble(mut layout: Layout, report: &Report, charts: &[Chart]) -> Result<Vec<u8>, String> {
    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    let (catalog, tree, info) = (alloc(), alloc(), alloc());
    let fonts = [
        write_font(&mut pdf, &mut alloc, &layout.regular, FONT, b"DejaVuSans")?,
        write_font(
            &mut pdf,
            &mut alloc,
            &layout.bold,
            FONT_BOLD,
            b"DejaVuSans-Bold",
        )?,
    ];
    let images = write_images(&mut pdf, &mut alloc, charts)?;
    let count = layout.pages.len();
    let page_ids: Vec<Ref> = (0..count).map(|_| alloc()).collect();
    for (n, content) in std::mem::take(&mut layout.pages).into_iter().enumerate() {
        let mut content = content;
        for &(page, chart, y, height) in layout.images.iter().filter(|i| i.0 == n) {
            let _ = page;
            content.save_state();
            content.transform([A4.0 - 2.0 * MARGIN, 0.0, 0.0, height, MARGIN, y]);
            content.x_object(Name(format!("Im{chart}").as_bytes()));
            content.restore_state();
        }
        footer(&mut content, &layout, report, n + 1, count);
        let content_id = alloc();
        pdf.stream(content_id, &content.finish());
        let page = Page {
            id: page_ids[n],
            tree,
            content: content_id,
            fonts,
        };
        write_page(&mut pdf, &page, &images);
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(count as i32);
    pdf.document_info(info)
        .title(TextStr(&format!(
            "llmwatch {}: {} to {}",
            report.title, report.period.start, report.period.end
        )))
        .creator(TextStr("llmwatch"));
    Ok(pdf.finish())
}

/// The charts as deflated RGB image objects, in order.
fn write_images(
    pdf: &mut Pdf,
    alloc: &mut impl FnMut() -> Ref,
    charts: &[Chart],
) -> Result<Vec<Ref>, String> {
    let mut images = Vec::with_capacity(charts.len());
    for c in charts {
        let id = alloc();
        let data = deflate(&c.rgb)?;
        let mut image = pdf.image_xobject(id, &data);
        image.filter(Filter::FlateDecode);
        image.width(c.width as i32);
        image.height(c.height as i32);
        image.color_space().device_rgb();
        image.bits_per_component(8);
        image.finish();
        images.push(id);
    }
    Ok(images)
}

/// One page's objects: its id, its page tree, its content stream and the two fonts.
struct Page {
    id: Ref,
    tree: Ref,
    content: Ref,
    fonts: [Ref; 2],
}

/// Writes `page`, A4, with its fonts and every chart image as resources.
fn write_page(pdf: &mut Pdf, p: &Page, images: &[Ref]) {
    let mut page = pdf.page(p.id);
    page.media_box(Rect::new(0.0, 0.0, A4.0, A4.1));
    page.parent(p.tree);
    page.contents(p.content);
    let mut resources = page.resources();
    resources
        .fonts()
        .pair(REGULAR, p.fonts[0])
        .pair(BOLD, p.fonts[1]);
    let mut objects = resources.x_objects();
    for (i, id) in images.iter().enumerate() {
        objects.pair(Name(format!("Im{i}").as_bytes()), *id);
    }
}

fn footer(content: &mut Content, layout: &Layout, report: &Report, page: usize, pages: usize) {
    let text = encode_winansi(&format!(
        "llmwatch {} · {} to {} · page {page} of {pages}",
        report.title, report.period.start, report.period.end
    ));
    let size = 7.5;
    let width = layout.regular.width(&String::from_utf8_lossy(&text), size);
    content.set_fill_gray(0.5);
    content.begin_text();
    content.set_font(REGULAR, size);
    content.next_line((A4.0 - width) / 2.0, MARGIN / 2.0);
    content.show(Str(&text));
    content.end_text();
}

/// zlib, as FlateDecode wants it.
fn deflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(data).map_err(|e| e.to_string())?;
    encoder.finish().map_err(|e| e.to_string())
}
