//! Shared code for the fuzz targets, which drive the pure crates
//! (`agentsight-decode`, `agentsight-redact`, `agentsight-tls-targets`)
//! without DataFusion.

pub use agentsight_decode as decode;
pub use agentsight_redact as redact;
pub use agentsight_tls_targets as tls_targets;

use decode::http1::Piece;

/// Reads control values off the front of a fuzz input; an exhausted input
/// yields zeros, so every input is valid.
pub struct Input<'a> {
    pub rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { rest: data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, r)) => {
                self.rest = r;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) | u16::from(self.byte()) << 8
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = b;
        a
    }
}

/// A gap length from one control byte: small, medium, large, or near
/// `u64::MAX` (the top two bits choose the scale).
pub fn gap_len(g: u8) -> u64 {
    let v = u64::from(g & 0x3f);
    match g >> 6 {
        0 => v,
        1 => v << 6,
        2 => v << 16,
        _ => u64::MAX >> v,
    }
}

/// One piece description: 2 bytes of length, 1 byte of gap (0 = no gap).
pub const PIECE_CTL: usize = 3;

/// Cut `data` into pieces following `ctl` (see [`PIECE_CTL`]); the rest of
/// `data` after the described pieces is the last piece.
pub fn pieces<'a>(ctl: &[u8], mut data: &'a [u8]) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    for c in ctl.chunks_exact(PIECE_CTL) {
        let n = usize::from(u16::from_le_bytes([c[0], c[1]])) % (data.len() + 1);
        out.push(Piece::Data(&data[..n]));
        data = &data[n..];
        if c[2] != 0 {
            out.push(Piece::Gap(gap_len(c[2])));
        }
    }
    out.push(Piece::Data(data));
    out
}

/// The same stream with adjacent data pieces merged and empty gaps dropped.
pub enum OwnedPiece {
    Data(Vec<u8>),
    Gap(u64),
}

pub fn coalesce(pieces: &[Piece<'_>]) -> Vec<OwnedPiece> {
    let mut out: Vec<OwnedPiece> = Vec::new();
    for p in pieces {
        match *p {
            Piece::Gap(0) => {}
            Piece::Gap(n) => out.push(OwnedPiece::Gap(n)),
            Piece::Data(d) => match out.last_mut() {
                Some(OwnedPiece::Data(v)) => v.extend_from_slice(d),
                _ => out.push(OwnedPiece::Data(d.to_vec())),
            },
        }
    }
    out
}

pub fn borrow(pieces: &[OwnedPiece]) -> Vec<Piece<'_>> {
    pieces
        .iter()
        .map(|p| match p {
            OwnedPiece::Data(d) => Piece::Data(d),
            OwnedPiece::Gap(n) => Piece::Gap(*n),
        })
        .collect()
}

/// Sorted cut points into `len` bytes from 2-byte control values.
pub fn cuts(ctl: &[u8], len: usize) -> Vec<usize> {
    let mut c: Vec<usize> = ctl
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (len + 1))
        .collect();
    c.sort_unstable();
    c
}

/// `data` split at the given sorted cut points.
pub fn split_at_cuts<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        out.push(&data[prev..c]);
        prev = c;
    }
    out
}
