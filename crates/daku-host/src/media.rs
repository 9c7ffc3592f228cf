//! The headless forms of audio (33: WAV files) and the framebuffer (35:
//! PNG files, encoded as they are written).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::outputs;

/// A 16-bit PCM WAV file being appended to, its header kept valid.
pub(crate) struct WavWriter {
    file: File,
    pub rate: u32,
    pub channels: u16,
    data_bytes: u32,
}

impl WavWriter {
    /// Creates the file `name` in the output directory `dir` (spec §6,
    /// "Outputs": beneath it, never through a symbolic link) with an empty
    /// stream.
    pub fn create(dir: &Path, name: &str, rate: u32, channels: u16) -> io::Result<Self> {
        let file = outputs::write(dir, name, |file| write_header(file, rate, channels, 0))?;
        Ok(WavWriter {
            file,
            rate,
            channels,
            data_bytes: 0,
        })
    }

    /// Appends little-endian 16-bit samples (`samples` is their bytes) and
    /// updates the header. Fails past the 4 GiB a WAV file can hold.
    pub fn append(&mut self, samples: &[u8]) -> io::Result<()> {
        let len = u32::try_from(samples.len()).map_err(|_| io::Error::other("too many samples"))?;
        let total = self
            .data_bytes
            .checked_add(len)
            .filter(|t| *t <= u32::MAX - 36)
            .ok_or_else(|| io::Error::other("a WAV file holds at most 4 GiB"))?;
        self.file
            .seek(SeekFrom::Start(44 + u64::from(self.data_bytes)))?;
        self.file.write_all(samples)?;
        self.data_bytes = total;
        write_header(&mut self.file, self.rate, self.channels, total)
    }
}

/// Writes the header of a WAV stream of `data_bytes` bytes at the start
/// of `file`.
fn write_header(file: &mut File, rate: u32, channels: u16, data_bytes: u32) -> io::Result<()> {
    let block = u32::from(channels) * 2;
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&channels.to_le_bytes());
    header.extend_from_slice(&rate.to_le_bytes());
    header.extend_from_slice(&(rate * block).to_le_bytes());
    header.extend_from_slice(&(block as u16).to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_bytes.to_le_bytes());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header)
}

/// The CRC-32 (ISO-HDLC) of each byte value, as PNG chunks use.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32 (ISO-HDLC) of `parts` in order, as PNG chunks use.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

/// Writes a PNG chunk: its length, kind, data and CRC.
fn write_chunk(out: &mut impl Write, kind: &[u8; 4], data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(|_| io::Error::other("chunk too long"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(kind)?;
    out.write_all(data)?;
    out.write_all(&crc32(&[kind, data]).to_be_bytes())
}

/// The most bytes of an IDAT chunk: the encoder's one buffer.
const IDAT_BYTES: usize = 65_536;

/// The zlib stream of the image, cut into IDAT chunks of at most
/// [`IDAT_BYTES`] as it is written.
struct Idat<'w, W: Write> {
    out: &'w mut W,
    chunk: Vec<u8>,
}

impl<W: Write> Idat<'_, W> {
    /// Writes the chunk collected, if any.
    fn finish(&mut self) -> io::Result<()> {
        if !self.chunk.is_empty() {
            write_chunk(self.out, b"IDAT", &self.chunk)?;
            self.chunk.clear();
        }
        Ok(())
    }
}

impl<W: Write> Write for Idat<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(IDAT_BYTES - self.chunk.len());
        self.chunk.extend_from_slice(&data[..n]);
        if self.chunk.len() == IDAT_BYTES {
            self.finish()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Deflate's stored (uncompressed) blocks of at most 65,535 bytes, for a
/// stream whose length is known, with its Adler-32.
struct Stored {
    /// Bytes of the stream not yet written.
    left: u64,
    /// Bytes of the current block not yet written.
    block_left: usize,
    adler: (u32, u32),
}

impl Stored {
    fn new(len: u64) -> Self {
        Stored {
            left: len,
            block_left: 0,
            adler: (1, 0),
        }
    }

    /// Writes the next `data` of the stream to `out`, starting blocks as
    /// it goes.
    fn write(&mut self, out: &mut impl Write, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.block_left == 0 {
                let len = self.left.min(65_535) as u16;
                let last = u64::from(len) == self.left;
                out.write_all(&[u8::from(last)])?;
                out.write_all(&len.to_le_bytes())?;
                out.write_all(&(!len).to_le_bytes())?;
                self.block_left = usize::from(len);
            }
            let n = self.block_left.min(data.len());
            out.write_all(&data[..n])?;
            self.add(&data[..n]);
            self.block_left -= n;
            self.left -= n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Adds `data` to the Adler-32.
    fn add(&mut self, data: &[u8]) {
        let (mut a, mut b) = self.adler;
        // 5552 bytes at most between reductions keep `b` within 32 bits.
        for part in data.chunks(5552) {
            for &byte in part {
                a += u32::from(byte);
                b += a;
            }
            a %= 65_521;
            b %= 65_521;
        }
        self.adler = (a, b);
    }

    /// The Adler-32 of what was written.
    fn adler32(&self) -> u32 {
        (self.adler.1 << 16) | self.adler.0
    }
}

/// Writes an RGBA8 image (`width` and `height` non-zero, `rgba` their
/// product times 4 bytes) as PNG to `out`, as it is encoded: the host
/// holds one buffer of [`IDAT_BYTES`] however large the image (spec §6,
/// 35). Its pixel data is in uncompressed (stored) deflate blocks: what a
/// headless framebuffer needs is exactness, not size.
pub(crate) fn write_png(
    out: &mut impl Write,
    width: u16,
    height: u16,
    rgba: &[u8],
) -> io::Result<()> {
    let row = usize::from(width) * 4;
    assert!(row > 0 && rgba.len() == row * usize::from(height) && height > 0);
    out.write_all(b"\x89PNG\r\n\x1a\n")?;
    let mut ihdr = [0u8; 13];
    ihdr[..4].copy_from_slice(&u32::from(width).to_be_bytes());
    ihdr[4..8].copy_from_slice(&u32::from(height).to_be_bytes());
    // 8 bits, RGBA, deflate, no filter, no interlace.
    ihdr[8..].copy_from_slice(&[8, 6, 0, 0, 0]);
    write_chunk(out, b"IHDR", &ihdr)?;
    let mut idat = Idat {
        out,
        chunk: Vec::with_capacity(IDAT_BYTES),
    };
    idat.write_all(&[0x78, 0x01])?;
    let mut stored = Stored::new((row as u64 + 1) * u64::from(height));
    for line in rgba.chunks_exact(row) {
        stored.write(&mut idat, &[0])?; // filter: none
        stored.write(&mut idat, line)?;
    }
    idat.write_all(&stored.adler32().to_be_bytes())?;
    idat.finish()?;
    write_chunk(idat.out, b"IEND", &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_iend() {
        // Every PNG ends with this chunk: its CRC is well known.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
    }

    /// Decodes a PNG of stored deflate blocks, checking every CRC, the
    /// chunks' sizes and the Adler-32: its width, height and pixels.
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let mut ihdr = Vec::new();
        let mut zlib = Vec::new();
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&[kind, data]));
            match kind {
                b"IHDR" => ihdr = data.to_vec(),
                b"IDAT" => {
                    assert!((1..=IDAT_BYTES).contains(&len));
                    zlib.extend_from_slice(data);
                }
                _ => {}
            }
            kinds.push(kind.to_vec());
            at += 12 + len;
        }
        assert_eq!(kinds.first().unwrap(), b"IHDR");
        assert_eq!(kinds.last().unwrap(), b"IEND");
        assert_eq!(&ihdr[8..], &[8, 6, 0, 0, 0]);
        let width = u32::from_be_bytes(ihdr[..4].try_into().unwrap());
        let height = u32::from_be_bytes(ihdr[4..8].try_into().unwrap());
        assert_eq!(&zlib[..2], &[0x78, 0x01]);
        let mut raw = Vec::new();
        let mut at = 2;
        loop {
            let last = zlib[at];
            let len = u16::from_le_bytes([zlib[at + 1], zlib[at + 2]]);
            assert_eq!(!len, u16::from_le_bytes([zlib[at + 3], zlib[at + 4]]));
            raw.extend_from_slice(&zlib[at + 5..at + 5 + usize::from(len)]);
            at += 5 + usize::from(len);
            if last == 1 {
                break;
            }
            assert_eq!(len, 65_535, "only the last block is short");
        }
        let mut adler = Stored::new(0);
        adler.add(&raw);
        assert_eq!(&zlib[at..], &adler.adler32().to_be_bytes());
        let row = width as usize * 4;
        let mut pixels = Vec::new();
        for line in raw.chunks(row + 1) {
            assert_eq!(line[0], 0, "filter none");
            pixels.extend_from_slice(&line[1..]);
        }
        (width, height, pixels)
    }

    #[test]
    fn frames_are_encoded_exactly_as_they_are_written() {
        // One block; exactly one block (4 * 64 + 1 = 257, 257 * 255 =
        // 65535); exactly two; several blocks over several IDAT chunks.
        for (width, height) in [(1u16, 1u16), (2, 1), (64, 255), (64, 510), (300, 200)] {
            let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height) * 4)
                .map(|i| (i * 7 + i / 256) as u8)
                .collect();
            let mut png = Vec::new();
            write_png(&mut png, width, height, &pixels).unwrap();
            let decoded = decode(&png);
            assert_eq!(decoded.0, u32::from(width));
            assert_eq!(decoded.1, u32::from(height));
            assert!(decoded.2 == pixels, "{width}x{height}");
        }
        // Adler-32 of "Wikipedia", the usual example.
        let mut adler = Stored::new(0);
        adler.add(b"Wikipedia");
        assert_eq!(adler.adler32(), 0x11E6_0398);
    }

    #[test]
    fn wav_header_tracks_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut wav = WavWriter::create(dir.path(), "a.wav", 8000, 2).unwrap();
        wav.append(&[1, 0, 2, 0, 3, 0, 4, 0]).unwrap();
        wav.append(&[5, 0, 6, 0]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 44 + 12);
        assert_eq!(&bytes[4..8], &(36u32 + 12).to_le_bytes());
        assert_eq!(&bytes[40..44], &12u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &32_000u32.to_le_bytes());
        assert_eq!(&bytes[44..], &[1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
    }
}
