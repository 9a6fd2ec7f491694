//! The report log's file format: framed, gzip-compressed, immutable.
//!
//! ```text
//! file    = gzip( header frame* )
//! header  = "CAIRNLOG" version:u8 oracle:[u8; 32]
//! frame   = length:u32 (little-endian, at most MAX_LOGGED_REPORT_BYTES) LoggedReport (borsh)
//! ```
//!
//! A file is written once, whole, and named by its first receive time and a sequence number
//! (`0001733150000000-0000000042.log.gz`); its BLAKE3 hash goes in the oracle's manifest. The
//! gzip header carries no time or name, so the same reports always give the same bytes (a
//! file rolled again after a crash is identical). Reading streams: memory is one frame.

use cairn_types::codec;
use cairn_types::report::{LoggedReport, MAX_LOGGED_REPORT_BYTES};
use cairn_types::{Address, PublicKey};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// The first bytes of every log file (after decompression).
pub const MAGIC: &[u8; 8] = b"CAIRNLOG";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Largest compressed log file an oracle fetches from another, in bytes.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest file name, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 64;
/// Bytes of the header (after decompression): the magic, the version and the oracle.
pub const HEADER_BYTES: usize = 8 + 1 + 32;

/// Why a log file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogFormatError {
    /// Not a gzip stream, or cut short.
    #[error("log file is not readable: {0}")]
    Io(#[from] std::io::Error),
    /// The header is not a Cairn log header.
    #[error("not a Cairn report log (bad magic or version {0})")]
    BadHeader(u8),
    /// A frame claims more bytes than a logged report may have.
    #[error("a frame of {0} bytes exceeds the limit")]
    FrameTooLong(u32),
    /// A frame's bytes are not a logged report.
    #[error("a frame is not a logged report: {0}")]
    BadFrame(String),
}

/// The BLAKE3 hash of a log file's bytes (what manifests name and chains commit to).
pub fn file_hash(bytes: &[u8]) -> cairn_types::Hash {
    cairn_types::Hash(*blake3::hash(bytes).as_bytes())
}

/// The name of the file that starts at `first_received_ms` with sequence number `seq`.
pub fn file_name(first_received_ms: u64, seq: u64) -> String {
    format!("{first_received_ms:016}-{seq:010}.log.gz")
}

/// True for names this format writes (what an oracle agrees to serve or fetch).
pub fn is_file_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".log.gz") else {
        return false;
    };
    let mut parts = stem.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None)
            if a.len() == 16 && b.len() == 10
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
    )
}

/// Writes the frame of one report (length and bytes) to `out`.
pub fn write_frame(out: &mut Vec<u8>, report: &LoggedReport) {
    let bytes = codec::encode(report);
    // A logged report is at most MAX_LOGGED_REPORT_BYTES: the length fits in a u32.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
}

/// A whole log file of `oracle` holding the frames in `frames` (as [`write_frame`] wrote them).
pub fn encode_file(oracle: &Address, frames: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
    gz.write_all(MAGIC)?;
    gz.write_all(&[VERSION])?;
    gz.write_all(&oracle.0 .0)?;
    gz.write_all(frames)?;
    gz.finish()
}

/// Reads a log file, one report at a time.
pub struct FileReader<R: Read> {
    inner: GzDecoder<R>,
    /// The oracle that wrote it.
    pub oracle: Address,
    buffer: Vec<u8>,
    decompressed: u64,
}

impl<R: Read> FileReader<R> {
    /// Opens a file and reads its header.
    pub fn open(source: R) -> Result<FileReader<R>, LogFormatError> {
        let mut inner = GzDecoder::new(source);
        let mut header = [0u8; HEADER_BYTES];
        inner.read_exact(&mut header)?;
        if &header[..8] != MAGIC || header[8] != VERSION {
            return Err(LogFormatError::BadHeader(header[8]));
        }
        let mut oracle = [0u8; 32];
        oracle.copy_from_slice(&header[9..]);
        Ok(FileReader {
            inner,
            oracle: Address(PublicKey(oracle)),
            buffer: Vec::with_capacity(MAX_LOGGED_REPORT_BYTES),
            decompressed: HEADER_BYTES as u64,
        })
    }

    /// Bytes decompressed so far: the header and every frame read or being read (a frame's
    /// claimed length counts as soon as it is read, before its bytes are).
    pub fn decompressed_bytes(&self) -> u64 {
        self.decompressed
    }

    /// The next report, `None` at the end of the file.
    pub fn next_report(&mut self) -> Result<Option<LoggedReport>, LogFormatError> {
        let mut length = [0u8; 4];
        if !read_exact_or_end(&mut self.inner, &mut length)? {
            return Ok(None);
        }
        let length = u32::from_le_bytes(length);
        self.decompressed = self.decompressed.saturating_add(4 + u64::from(length));
        if length as usize > MAX_LOGGED_REPORT_BYTES {
            return Err(LogFormatError::FrameTooLong(length));
        }
        self.buffer.resize(length as usize, 0);
        self.inner.read_exact(&mut self.buffer)?;
        LoggedReport::decode(&self.buffer)
            .map(Some)
            .map_err(|e| LogFormatError::BadFrame(e.to_string()))
    }
}

/// Fills `buf`, or returns `false` if the stream ended before its first byte.
fn read_exact_or_end<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<bool, std::io::Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Every report of a whole file in memory (tests and small files).
pub fn decode_file(bytes: &[u8]) -> Result<(Address, Vec<LoggedReport>), LogFormatError> {
    let mut reader = FileReader::open(bytes)?;
    let mut reports = Vec::new();
    while let Some(report) = reader.next_report()? {
        reports.push(report);
    }
    Ok((reader.oracle, reports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::params::ChainId;
    use cairn_types::report::{ReportBody, ReportPayload, SessionCert, SignedReport};
    use cairn_types::{Hash, SecretKey};
    use proptest::prelude::*;

    fn logged(n: u64) -> LoggedReport {
        let chain = ChainId::new("t").unwrap();
        let device = SecretKey::from_seed([1; 32]);
        let session = SecretKey::from_seed([2; 32]);
        let cert = SessionCert::issue(&chain, &device, session.public_key(), 1 << 40);
        let body = ReportBody {
            time_ms: n,
            entropy: Hash::ZERO,
            payload: ReportPayload::Heartbeat { uptime_secs: n },
        };
        LoggedReport {
            received_ms: n + 5,
            report: SignedReport::sign(&chain, cert, &session, body),
        }
    }

    fn oracle() -> Address {
        Address(SecretKey::from_seed([9; 32]).public_key())
    }

    #[test]
    fn a_file_round_trips_and_is_the_same_bytes_every_time() {
        let mut frames = Vec::new();
        for n in 0..100 {
            write_frame(&mut frames, &logged(n));
        }
        let file = encode_file(&oracle(), &frames).unwrap();
        assert_eq!(file, encode_file(&oracle(), &frames).unwrap());
        let (who, reports) = decode_file(&file).unwrap();
        assert_eq!(who, oracle());
        assert_eq!(reports.len(), 100);
        assert_eq!(reports[42], logged(42));
        // Compression pays: the same certificate repeats in every report.
        assert!(
            file.len() < frames.len() / 2,
            "{} vs {}",
            file.len(),
            frames.len()
        );
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let mut frames = Vec::new();
        write_frame(&mut frames, &logged(1));
        let file = encode_file(&oracle(), &frames).unwrap();
        assert!(decode_file(&file[..file.len() - 10]).is_err());
        assert!(decode_file(b"not gzip at all").is_err());
        let mut long = Vec::new();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        let file = encode_file(&oracle(), &long).unwrap();
        assert!(matches!(
            decode_file(&file),
            Err(LogFormatError::FrameTooLong(_))
        ));
        let wrong = {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(b"CAIRNLOG\x07").unwrap();
            gz.write_all(&[0; 32]).unwrap();
            gz.finish().unwrap()
        };
        assert!(matches!(
            decode_file(&wrong),
            Err(LogFormatError::BadHeader(7))
        ));
    }

    #[test]
    fn names_are_checked() {
        let name = file_name(1_733_150_000_000, 42);
        assert_eq!(name, "0001733150000000-0000000042.log.gz");
        assert!(is_file_name(&name));
        for bad in [
            "../etc/passwd",
            "1-2.log.gz",
            "0001733150000000-0000000042.log",
            "",
        ] {
            assert!(!is_file_name(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_read_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = decode_file(&bytes);
            let file = encode_file(&oracle(), &bytes).unwrap();
            let _ = decode_file(&file);
        }
    }
}
