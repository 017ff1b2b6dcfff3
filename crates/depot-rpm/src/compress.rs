//! Reading and writing repodata files in any of the compressions yum repositories use.

use std::io::{BufRead, BufReader, Write};

/// Compression of a metadata file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gz,
    Xz,
    Zstd,
    Bz2,
}

impl Compression {
    /// From the first bytes of a file (used when the name does not say).
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gz,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => Compression::Bz2,
            _ => Compression::None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gz => ".gz",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Bz2 => ".bz2",
        }
    }
}

/// A buffered reader of the decompressed bytes of `file`.
pub fn open(path: &std::path::Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let kind = Compression::sniff(file.fill_buf()?);
    decompress(kind, file)
}

/// Wrap `inner` in the decoder for `kind`.
pub fn decompress<R: BufRead + Send + 'static>(
    kind: Compression,
    inner: R,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    const CAP: usize = 256 * 1024;
    Ok(match kind {
        Compression::None => Box::new(inner),
        Compression::Gz => Box::new(BufReader::with_capacity(
            CAP,
            flate2::bufread::MultiGzDecoder::new(inner),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            CAP,
            liblzma::bufread::XzDecoder::new_multi_decoder(inner),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            CAP,
            zstd::stream::read::Decoder::with_buffer(inner)?,
        )),
        Compression::Bz2 => Box::new(BufReader::with_capacity(
            CAP,
            bzip2::bufread::MultiBzDecoder::new(inner),
        )),
    })
}

/// A writer that compresses into `inner`; call `finish` to end the stream.
pub struct Compressor<W: Write> {
    inner: Encoder<W>,
}

enum Encoder<W: Write> {
    None(W),
    Gz(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Only what publications write: none, gz or zstd.
    pub fn new(kind: Compression, inner: W) -> std::io::Result<Compressor<W>> {
        Ok(Compressor {
            inner: match kind {
                Compression::Gz => Encoder::Gz(flate2::write::GzEncoder::new(
                    inner,
                    flate2::Compression::new(6),
                )),
                Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(inner, 10)?),
                _ => Encoder::None(inner),
            },
        })
    }

    /// The writer below the compressor (e.g. to drain compressed bytes written so far).
    pub fn get_mut(&mut self) -> &mut W {
        match &mut self.inner {
            Encoder::None(w) => w,
            Encoder::Gz(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        }
    }

    pub fn finish(self) -> std::io::Result<W> {
        match self.inner {
            Encoder::None(w) => Ok(w),
            Encoder::Gz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.inner {
            Encoder::None(w) => w.write(buf),
            Encoder::Gz(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.inner {
            Encoder::None(w) => w.flush(),
            Encoder::Gz(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut r: impl std::io::Read) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(v)
    }

    #[test]
    fn every_compression_round_trips_or_decodes() {
        let text = b"<metadata packages=\"0\"/>\n".repeat(100);
        for kind in [Compression::None, Compression::Gz, Compression::Zstd] {
            let mut c = Compressor::new(kind, Vec::new()).unwrap();
            c.write_all(&text).unwrap();
            let bytes = c.finish().unwrap();
            assert_eq!(Compression::sniff(&bytes), kind);
            let out = read_all(decompress(kind, std::io::Cursor::new(bytes)).unwrap()).unwrap();
            assert_eq!(out, text);
        }
        let mut xz = Vec::new();
        liblzma::write::XzEncoder::new(&mut xz, 1)
            .write_all(&text)
            .unwrap();
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&text).unwrap();
        let xz = enc.finish().unwrap();
        assert_eq!(Compression::sniff(&xz), Compression::Xz);
        assert_eq!(
            read_all(decompress(Compression::Xz, std::io::Cursor::new(xz)).unwrap()).unwrap(),
            text
        );
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(&text).unwrap();
        let bz = enc.finish().unwrap();
        assert_eq!(
            read_all(decompress(Compression::Bz2, std::io::Cursor::new(bz)).unwrap()).unwrap(),
            text
        );
    }

    #[test]
    fn truncated_xz_is_an_error() {
        let text = vec![b'x'; 100_000];
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&text).unwrap();
        let mut xz = enc.finish().unwrap();
        xz.truncate(xz.len() / 2);
        assert!(read_all(decompress(Compression::Xz, std::io::Cursor::new(xz)).unwrap()).is_err());
    }
}
