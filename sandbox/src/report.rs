//! The interview vendor's reports: a small valid PDF per interview (built
//! here, byte-for-byte the same for the same interview, so a test can know
//! its hash), and deterministic pseudo-random bytes of any size for tests
//! of large binary payloads.
//!
//! The PDF is written by hand (one page, one Helvetica text block, a correct
//! cross-reference table) rather than with a PDF crate: it is forty lines,
//! and any reader opens it.

use sha2::{Digest, Sha256};

/// The largest `?size=` the report route serves (64 MiB).
pub const MAX_NOISE: usize = 64 * 1024 * 1024;

/// A one-page PDF saying which interview it reports on.
pub fn pdf(interview_id: &str) -> Vec<u8> {
    let safe: String =
        interview_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(64).collect();
    let text = format!(
        "BT /F1 18 Tf 72 720 Td (AI interview report) Tj 0 -28 Td /F1 12 Tf (Interview: {safe}) Tj \
         0 -18 Td (Produced by the reqflow sandbox vendor.) Tj ET"
    );
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// `size` pseudo-random bytes, the same for the same `seed` (SHA-256 in counter mode).
pub fn noise(seed: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut counter: u64 = 0;
    while out.len() < size {
        let mut h = Sha256::new();
        h.update(seed.as_bytes());
        h.update(counter.to_le_bytes());
        let block = h.finalize();
        let take = (size - out.len()).min(block.len());
        out.extend_from_slice(&block[..take]);
        counter += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_is_well_formed_and_stable() {
        let a = pdf("iv-9");
        assert_eq!(a, pdf("iv-9"), "same interview, same bytes");
        assert!(a.starts_with(b"%PDF-1.4") && a.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&a);
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|s| s.lines().next())
            .and_then(|s| s.parse().ok())
            .expect("startxref");
        assert!(a[startxref..].starts_with(b"xref"), "startxref points at the table");
        let table = String::from_utf8_lossy(&a[startxref..]).into_owned();
        for (i, line) in table.lines().skip(3).take(5).enumerate() {
            let off: usize = line[..10].parse().expect("offset");
            assert!(a[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()), "object {} at {off}", i + 1);
        }
        assert_ne!(pdf("iv-10"), a);
    }

    #[test]
    fn noise_has_the_size_asked_and_is_stable() {
        assert_eq!(noise("x", 1000).len(), 1000);
        assert_eq!(noise("x", 77), noise("x", 77));
        assert_ne!(noise("x", 64), noise("y", 64));
    }
}
