//! The headless forms of audio (33: WAV files) and the framebuffer (35:
//! PNG files).

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

/// CRC-32 (ISO-HDLC), as PNG chunks use.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// An RGBA8 image as PNG, its pixel data in uncompressed (stored) deflate
/// blocks: what a headless framebuffer needs is exactness, not size.
pub(crate) fn png(width: u16, height: u16, rgba: &[u8]) -> Vec<u8> {
    let row = usize::from(width) * 4;
    let mut raw = Vec::with_capacity((row + 1) * usize::from(height));
    for line in rgba.chunks_exact(row) {
        raw.push(0); // filter: none
        raw.extend_from_slice(line);
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        zlib.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        zlib.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&u32::from(width).to_be_bytes());
    ihdr.extend_from_slice(&u32::from(height).to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_iend() {
        // Every PNG ends with this chunk: its CRC is well known.
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
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
