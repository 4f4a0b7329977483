//! Reading CSV inputs, plain or gzipped, with exact header checks and typed field parsing.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use csv::StringRecord;
use flate2::read::MultiGzDecoder;

use super::{FileSummary, Rejection};
use crate::error::{Error, Result};
use crate::rows::price_beyond_limit;

/// An open CSV input whose header has been read.
pub(crate) struct CsvInput {
    /// How the file is named in messages (path, or `archive.tar.gz:member.csv`).
    pub name: String,
    pub header: Vec<String>,
    reader: csv::Reader<Box<dyn Read>>,
    record: StringRecord,
}

impl std::fmt::Debug for CsvInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvInput").field("name", &self.name).finish()
    }
}

/// Opens a file, decompressing it when it starts with the gzip magic bytes: its bytes as they
/// are (a tar archive's).
pub(crate) fn open_decompressed(path: &Path) -> Result<Box<dyn Read>> {
    let (file, gzipped) = open_sniffed(path)?;
    if gzipped {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file));
        Ok(Box::new(BufReader::with_capacity(1 << 16, ThreadedReader::spawn(decoder))))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    }
}

/// Text for [`CsvInput`]: bytes whose line ends [`LineEnds`] has normalised, which its line
/// numbers rely on.
pub(crate) struct Lines(Box<dyn Read>);

impl Lines {
    pub fn new(read: impl Read + 'static) -> Lines {
        Lines(Box::new(LineEnds::new(read)))
    }

    /// A CSV file, decompressed as [`open_decompressed`] does, its line ends normalised on the
    /// decoding thread when it is gzipped.
    pub fn open(path: &Path) -> Result<Lines> {
        let (file, gzipped) = open_sniffed(path)?;
        if gzipped {
            let decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file));
            Ok(Lines(Box::new(BufReader::with_capacity(1 << 16, ThreadedReader::spawn(LineEnds::new(decoder))))))
        } else {
            Ok(Lines::new(file))
        }
    }
}

/// The file, and whether it starts with the gzip magic bytes.
fn open_sniffed(path: &Path) -> Result<(File, bool)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    Ok((file, n == 2 && magic == [0x1f, 0x8b]))
}

/// Runs a reader (the gzip decoder) on its own thread, a few chunks ahead of the consumer, so
/// decompression overlaps parsing. Errors arrive in order, after the bytes read before them.
struct ThreadedReader {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl ThreadedReader {
    const CHUNK: usize = 1 << 18;

    fn spawn(mut inner: impl Read + Send + 'static) -> ThreadedReader {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            loop {
                let mut buf = vec![0u8; Self::CHUNK];
                let sent = match read_up_to(&mut inner, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        tx.send(Ok(buf))
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                };
                if sent.is_err() {
                    break; // the consumer stopped reading
                }
            }
        });
        ThreadedReader { chunks: rx, current: Vec::new(), pos: 0 }
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0), // the decoder thread finished
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Passes bytes through with every CR immediately before an LF removed, and an LF added after
/// a last line that has none, so that every record the csv parser returns ends in one LF and
/// the reader's line count after it is the record's last line plus one
/// ([`CsvInput::next_record`]). The csv crate's own record lines cannot be used: they lag one
/// line behind on CRLF input (rust-csv issue 395, open in csv 1.3; the ERCOT and epftoolbox
/// files are CRLF) and after a blank line (rust-csv issue 208), so a rejection would name the line above
/// the bad one. Fields lose nothing but a CR before an LF inside a quoted field.
struct LineEnds<R> {
    inner: R,
    /// `buf[pos..len]` is what is left to pass on.
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The last byte read from `inner` was a CR not yet passed on: whether it goes depends on
    /// the next byte.
    held_cr: bool,
    /// The last byte passed on, if any.
    last: Option<u8>,
    /// `inner` is exhausted and the final LF, if one was needed, passed on.
    done: bool,
}

impl<R: Read> LineEnds<R> {
    /// Bytes read from `inner` at a time.
    const CHUNK: usize = 1 << 16;

    fn new(inner: R) -> LineEnds<R> {
        // Room for a held CR before a chunk, or for the final LF.
        let buf = vec![0u8; Self::CHUNK + 1].into_boxed_slice();
        LineEnds { inner, buf, pos: 0, len: 0, held_cr: false, last: None, done: false }
    }

    /// Refills `buf`; nothing left in it only at the end of the input.
    fn fill(&mut self) -> std::io::Result<()> {
        self.pos = 0;
        self.len = 0;
        while self.len == 0 && !self.done {
            // A held CR goes first, then the new bytes; the CRs before LFs are cut out in place.
            let held = usize::from(std::mem::take(&mut self.held_cr));
            if held == 1 {
                self.buf[0] = b'\r';
            }
            let n = self.inner.read(&mut self.buf[held..held + Self::CHUNK])?;
            let end = held + n;
            let (mut kept, mut read) = (0, 0);
            while let Some(offset) = memchr::memchr(b'\r', &self.buf[read..end]) {
                let cr = read + offset;
                self.buf.copy_within(read..cr, kept);
                kept += cr - read;
                read = cr + 1;
                if cr + 1 == end && n > 0 {
                    self.held_cr = true; // the next read says whether an LF follows
                } else if cr + 1 == end || self.buf[cr + 1] != b'\n' {
                    self.buf[kept] = b'\r';
                    kept += 1;
                }
            }
            self.buf.copy_within(read..end, kept);
            self.len = kept + end - read;
            if n == 0 {
                let last = if self.len > 0 { Some(self.buf[self.len - 1]) } else { self.last };
                if last.is_some_and(|b| b != b'\n') {
                    self.buf[self.len] = b'\n';
                    self.len += 1;
                }
                self.done = true;
            }
        }
        if self.len > 0 {
            self.last = Some(self.buf[self.len - 1]);
        }
        Ok(())
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.len {
            self.fill()?;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl CsvInput {
    pub fn open(path: &Path) -> Result<CsvInput> {
        CsvInput::from_reader(path.display().to_string(), Lines::open(path)?, true)
    }

    /// Reads the header line (when `has_header`) and prepares record iteration.
    pub fn from_reader(name: String, read: Lines, has_header: bool) -> Result<CsvInput> {
        let reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).buffer_capacity(1 << 16).from_reader(read.0);
        let mut input = CsvInput { name, header: Vec::new(), reader, record: StringRecord::new() };
        if has_header {
            let more = input.read_raw()?;
            if !more {
                return Err(Error::input(&input.name, "empty file: no header line"));
            }
            input.header = input.record.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_string()).collect();
        }
        Ok(input)
    }

    fn read_raw(&mut self) -> Result<bool> {
        let read = self.reader.read_record(&mut self.record);
        read.map_err(|e| {
            // Not the error's own position (the csv crate's record start, which can lag after a
            // blank line): the reader stands past the bad record's LF, or within a record it
            // could not finish, so the line before is the bad one, or the last one read whole.
            let line = self.reader.position().line().saturating_sub(1);
            let detail = match e.kind() {
                csv::ErrorKind::Io(io) => {
                    format!("read failed after line {line}: {io} (the file is truncated or its compression is corrupt)")
                }
                csv::ErrorKind::Utf8 { .. } => format!("line {line}: invalid UTF-8"),
                _ => format!("line {line}: {e}"),
            };
            Error::input(&self.name, detail)
        })
    }

    /// `expected` is a header, quoted in the message, or a list that quotes its own headers
    /// (`one of: ...`).
    pub fn wrong_header(&self, expected: &str) -> Error {
        let expected = if expected.starts_with("one of") { expected.to_string() } else { format!("`{expected}`") };
        Error::input(&self.name, format!("wrong header: expected {expected}, found `{}`", self.header.join(",")))
    }

    /// Index of a header column, or a wrong-header error naming it.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            Error::input(&self.name, format!("wrong header: no column `{name}` in `{}`", self.header.join(",")))
        })
    }

    /// The next record and its 1-based line, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<(u64, &StringRecord)>> {
        loop {
            if !self.read_raw()? {
                return Ok(None);
            }
            // Skip blank lines, which the csv crate returns as one empty field.
            if self.record.len() == 1 && self.record[0].trim().is_empty() {
                continue;
            }
            // The reader stands just past the record's final LF ([`LineEnds`]), on the line after
            // its last; a quoted field may span lines.
            let spanned = memchr::memchr_iter(b'\n', self.record.as_slice().as_bytes()).count() as u64;
            let line = self.reader.position().line() - 1 - spanned;
            return Ok(Some((line, &self.record)));
        }
    }
}

/// Counts of one input file and the rejections found in it.
#[derive(Debug)]
pub(crate) struct Tally {
    pub summary: FileSummary,
    pub rejections: Vec<Rejection>,
}

impl Tally {
    pub fn new(file: &str, kind: &str) -> Tally {
        Tally {
            summary: FileSummary { file: file.to_string(), kind: kind.to_string(), ..FileSummary::default() },
            rejections: Vec::new(),
        }
    }

    pub fn accept(&mut self) {
        self.summary.rows_read += 1;
        self.summary.rows_accepted += 1;
    }

    pub fn reject(&mut self, line: u64, err: FieldError) {
        self.summary.rows_read += 1;
        self.summary.rows_rejected += 1;
        self.rejections.push(Rejection { file: self.summary.file.clone(), line, field: err.field, reason: err.reason });
    }

    /// Records the outcome of parsing one row.
    pub fn record<T>(&mut self, line: u64, row: Result<T, FieldError>) -> Option<T> {
        match row {
            Ok(v) => {
                self.accept();
                Some(v)
            }
            Err(e) => {
                self.reject(line, e);
                None
            }
        }
    }

    pub fn merge_into(self, parsed: &mut super::Parsed) {
        parsed.files.push(self.summary);
        parsed.rejections.extend(self.rejections);
    }
}

/// Why one row was rejected, and which field made it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: Option<String>,
    pub reason: String,
}

impl FieldError {
    pub fn field(field: &str, reason: impl Into<String>) -> FieldError {
        FieldError { field: Some(field.to_string()), reason: reason.into() }
    }

    pub fn row(reason: impl Into<String>) -> FieldError {
        FieldError { field: None, reason: reason.into() }
    }
}

pub(crate) type FieldResult<T> = std::result::Result<T, FieldError>;

/// Typed access to the fields of one record, by header index, with errors naming the field.
pub(crate) struct Fields<'a> {
    pub record: &'a StringRecord,
    pub header: &'a [String],
}

impl<'a> Fields<'a> {
    pub fn new(record: &'a StringRecord, header: &'a [String]) -> FieldResult<Fields<'a>> {
        if record.len() != header.len() {
            return Err(FieldError::row(format!("{} fields, the header has {}", record.len(), header.len())));
        }
        Ok(Fields { record, header })
    }

    pub fn str(&self, i: usize) -> &'a str {
        self.record[i].trim()
    }

    fn name(&self, i: usize) -> &str {
        &self.header[i]
    }

    pub fn required_str(&self, i: usize) -> FieldResult<&'a str> {
        let s = self.str(i);
        if s.is_empty() { Err(FieldError::field(self.name(i), "empty")) } else { Ok(s) }
    }

    /// Empty, `NaN`, `nan`, `None` and `NULL` are missing values.
    pub fn opt_str(&self, i: usize) -> Option<&'a str> {
        let s = self.str(i);
        (!is_missing(s)).then_some(s)
    }

    pub fn opt_f64(&self, i: usize) -> FieldResult<Option<f64>> {
        match self.opt_str(i) {
            None => Ok(None),
            Some(s) => parse_finite(s).map(Some).map_err(|r| FieldError::field(self.name(i), r)),
        }
    }

    pub fn f64(&self, i: usize) -> FieldResult<f64> {
        self.opt_f64(i)?.ok_or_else(|| FieldError::field(self.name(i), "missing value"))
    }

    /// An electricity price per MWh: a number within [`crate::rows::PRICE_LIMIT_PER_MWH`]
    /// either side of zero.
    pub fn opt_price(&self, i: usize) -> FieldResult<Option<f64>> {
        let v = self.opt_f64(i)?;
        match v.and_then(|p| price_beyond_limit(p, "per MWh")) {
            Some(why) => Err(FieldError::field(self.name(i), why)),
            None => Ok(v),
        }
    }

    pub fn price(&self, i: usize) -> FieldResult<f64> {
        self.opt_price(i)?.ok_or_else(|| FieldError::field(self.name(i), "missing value"))
    }

    /// An integer, also written as an integral float (`1435629.0`).
    pub fn opt_i64(&self, i: usize) -> FieldResult<Option<i64>> {
        match self.opt_str(i) {
            None => Ok(None),
            Some(s) => parse_integer(s).map(Some).map_err(|r| FieldError::field(self.name(i), r)),
        }
    }

    pub fn i64(&self, i: usize) -> FieldResult<i64> {
        self.opt_i64(i)?.ok_or_else(|| FieldError::field(self.name(i), "missing value"))
    }

    pub fn i32_in(&self, i: usize, lo: i32, hi: i32) -> FieldResult<i32> {
        let v = self.i64(i)?;
        if (i64::from(lo)..=i64::from(hi)).contains(&v) {
            Ok(v as i32)
        } else {
            Err(FieldError::field(self.name(i), format!("{v} is outside {lo}..={hi}")))
        }
    }

    pub fn non_negative_i64(&self, i: usize) -> FieldResult<i64> {
        let v = self.i64(i)?;
        if v < 0 { Err(FieldError::field(self.name(i), format!("{v} is negative"))) } else { Ok(v) }
    }
}

pub(crate) fn is_missing(s: &str) -> bool {
    matches!(s, "" | "NaN" | "nan" | "NA" | "None" | "NULL" | "null")
}

pub(crate) fn parse_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("`{s}` is not a finite number")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

pub(crate) fn parse_integer(s: &str) -> Result<i64, String> {
    if let Ok(v) = s.parse::<i64>() {
        return Ok(v);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        Ok(_) => Err(format!("`{s}` is not an integer")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads all of `input` through [`LineEnds`], `chunk` bytes at a time from the inner reader.
    fn normalised(input: &[u8], chunk: usize) -> Vec<u8> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        LineEnds::new(Chunks(input, chunk)).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn crlf_becomes_lf_wherever_the_reads_split_it_and_a_lone_cr_stays() {
        let input = b"a,b\r\n1,2\r\n\r\n3,\r4\r\n\r";
        for chunk in 1..=input.len() {
            assert_eq!(normalised(input, chunk), b"a,b\n1,2\n\n3,\r4\n\r\n", "reads of {chunk} bytes");
        }
        // A last line without its end gets one; an empty input stays empty.
        assert_eq!(normalised(b"a\r\nb", 2), b"a\nb\n");
        assert_eq!(normalised(b"a\n", 1), b"a\n");
        assert_eq!(normalised(b"", 1), b"");
    }

    /// Each record's line is the line it is on, with LF or CRLF ends and after a blank line; so
    /// is a record that is not UTF-8.
    #[test]
    fn records_carry_their_own_line() {
        for (end, last) in [("\n", "\n"), ("\r\n", "\r\n"), ("\n", ""), ("\r\n", "")] {
            let text = ["h1,h2", "a,1", "b,2", "", "c,3", "\"d\nd\",4", "e,5"].join(end) + last;
            let mut input =
                CsvInput::from_reader("t.csv".into(), Lines::new(std::io::Cursor::new(text)), true).unwrap();
            let mut lines = Vec::new();
            while let Some((line, record)) = input.next_record().unwrap() {
                lines.push((line, record[0].to_string()));
            }
            let want: Vec<(u64, String)> = [(2, "a"), (3, "b"), (5, "c"), (6, "d\nd"), (8, "e")]
                .iter()
                .map(|(l, v)| (*l, v.to_string()))
                .collect();
            assert_eq!(lines, want, "line end {end:?}, last {last:?}");
        }
        for end in ["\n", "\r\n"] {
            let mut text = ["h1,h2", "a,1", "", "b,\u{e9}"].join(end).into_bytes();
            let at = text.len() - 2;
            text[at] = 0xff; // the second byte of é: invalid UTF-8 on line 4
            let mut input =
                CsvInput::from_reader("t.csv".into(), Lines::new(std::io::Cursor::new(text)), true).unwrap();
            assert_eq!(input.next_record().unwrap().unwrap().0, 2);
            let err = input.next_record().unwrap_err().to_string();
            assert!(err.contains("t.csv") && err.contains("line 4: invalid UTF-8"), "{end:?}: {err}");
        }
    }
}
