//! Page-aligned chunking of a PostgreSQL base backup's tar stream (issue 3).
//!
//! The vault's content-defined chunker cuts a base backup's tar at 1 MiB on
//! average, wherever the content says. A table in which one page changed
//! then costs a whole chunk or two around that page, and a tar header whose
//! mtime or size changed (every file that was written to) costs the chunk it
//! sits in, so a day's base backup stores far more than the blocks that
//! changed. [`PageSplitter`] knows the tar layout instead:
//!
//! - the data of a regular file of at least two pages ([`MIN_PAGED`]) is cut
//!   at its start, then every [`CHUNK`] bytes, and at its end. PostgreSQL's
//!   relation files are whole pages, so an unchanged run of 16 pages gives
//!   the same chunk in every backup, wherever the file sits in the tar;
//! - everything else (header blocks, padding, small files and the data of
//!   other members) goes into "meta" chunks, cut before each such file's
//!   data, at the end of the stream, and whenever they reach [`CHUNK`].
//!
//! How the stream is cut is not part of the vault format (readers
//! concatenate the chunks), so this changes only how well base backups
//! deduplicate. The bytes handed out, concatenated, are always the input.
//! A header that fails its checksum, or a size that cannot be parsed, does
//! not fail the backup: the rest of the stream is cut every [`CHUNK`] bytes
//! and a warning is logged.
//!
//! Memory: two [`CHUNK`] buffers, plus at most [`PAX_MAX`] for a pax header
//! being read.
//!
//! Files: [`splitter`] holds the [`PageSplitter`] and the sizes it cuts by;
//! `tar` reads tar header fields.

mod splitter;
mod tar;

pub use splitter::{PageSplitter, CHUNK, MIN_PAGED, PAGE, PAX_MAX};

#[cfg(test)]
mod tests;
