//! The text face embedded in the PDF: DejaVu Sans as a TrueType font with WinAnsi
//! encoding, its widths, and how text is encoded for it.

use ab_glyph::{Font as _, FontRef};
use pdf_writer::{Filter, Name, Pdf, Rect, Ref};

use super::deflate;

/// One embedded face: its widths for WinAnsi codes 32 to 255, in 1/1000 em.
pub(super) struct Face {
    pub(super) widths: Vec<f32>,
    pub(super) ascent: f32,
    pub(super) descent: f32,
}

impl Face {
    pub(super) fn load(data: &'static [u8]) -> Result<Face, String> {
        let font = FontRef::try_from_slice(data).map_err(|e| format!("embedded font: {e}"))?;
        let em = font.units_per_em().unwrap_or(1000.0);
        let widths = (32u8..=255)
            .map(|code| {
                let c = decode_winansi(code);
                if c == '\0' {
                    return 0.0;
                }
                font.h_advance_unscaled(font.glyph_id(c)) * 1000.0 / em
            })
            .collect();
        Ok(Face {
            widths,
            ascent: font.ascent_unscaled() * 1000.0 / em,
            descent: font.descent_unscaled() * 1000.0 / em,
        })
    }

    /// Width of `text` at `size` points.
    pub(super) fn width(&self, text: &str, size: f32) -> f32 {
        encode_winansi(text)
            .iter()
            .map(|&b| {
                self.widths
                    .get(usize::from(b.max(32) - 32))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum::<f32>()
            * size
            / 1000.0
    }
}

/// The character of a WinAnsi code (the cp1252 part the subset covers), `'\0'` if none.
pub(super) fn decode_winansi(code: u8) -> char {
    match code {
        32..=126 | 160..=255 => char::from(code),
        0x80 => '€',
        0x85 => '…',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        _ => '\0',
    }
}

/// Text as WinAnsi bytes; characters outside it become `?`.
pub(super) fn encode_winansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '…' => 0x85,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

pub(super) fn write_font(
    pdf: &mut Pdf,
    alloc: &mut impl FnMut() -> Ref,
    face: &Face,
    data: &'static [u8],
    name: &'static [u8],
) -> Result<Ref, String> {
    let (font, descriptor, file) = (alloc(), alloc(), alloc());
    {
        let mut dict = pdf.indirect(font).dict();
        dict.pair(Name(b"Type"), Name(b"Font"));
        dict.pair(Name(b"Subtype"), Name(b"TrueType"));
        dict.pair(Name(b"BaseFont"), Name(name));
        dict.pair(Name(b"FirstChar"), 32);
        dict.pair(Name(b"LastChar"), 255);
        dict.insert(Name(b"Widths"))
            .array()
            .items(face.widths.iter().copied());
        dict.pair(Name(b"FontDescriptor"), descriptor);
        dict.pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"));
    }
    pdf.font_descriptor(descriptor)
        .name(Name(name))
        .flags(pdf_writer::types::FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(-1021.0, face.descent, 1793.0, face.ascent))
        .italic_angle(0.0)
        .ascent(face.ascent)
        .descent(face.descent)
        .cap_height(729.0)
        .stem_v(80.0)
        .font_file2(file);
    let compressed = deflate(data)?;
    pdf.stream(file, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), data.len() as i32);
    Ok(font)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::FONT;

    #[test]
    fn winansi_round_trips_what_the_font_covers() {
        for code in (32u8..=126)
            .chain(160..=255)
            .chain([0x80, 0x85, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97])
        {
            let c = decode_winansi(code);
            assert_eq!(encode_winansi(&c.to_string()), [code]);
        }
        assert_eq!(encode_winansi("€5 – ok ✓"), b"\x805 \x96 ok ?");
        let face = Face::load(FONT).unwrap();
        assert!(face.width("WWW", 10.0) > face.width("iii", 10.0));
        assert!(face.widths.iter().filter(|w| **w > 0.0).count() > 190);
    }
}
