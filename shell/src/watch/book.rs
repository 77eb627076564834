//! The incident book on disk: one sled key holding `IncidentBook::to_bytes`, written whenever
//! the book changed and flushed before the round's records go out, read at start.

use std::path::Path;

use cairn_core::watch::IncidentBook;
use cairn_core::watch::incident::BookError;

/// The key the book is stored under.
const BOOK_KEY: &[u8] = b"incident-book";

/// Errors of the book's store.
#[derive(Debug, thiserror::Error)]
pub enum BookStoreError {
    #[error("opening the watch store at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("writing the incident book: {0}")]
    Write(#[source] sled::Error),
    #[error("reading the incident book: {0}")]
    Read(#[source] sled::Error),
    #[error("the stored incident book is unreadable (delete the watch store to start afresh): {0}")]
    Decode(#[source] BookError),
}

/// The sled database of `cairn watch`.
pub struct BookStore {
    db: sled::Db,
    /// The bytes last written, to skip writes of an unchanged book.
    written: Vec<u8>,
}

impl BookStore {
    pub fn open(path: &Path) -> Result<BookStore, BookStoreError> {
        let db = sled::open(path).map_err(|source| BookStoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Ok(BookStore {
            db,
            written: Vec::new(),
        })
    }

    /// The database, for the other parts of the watch that keep state in it (the responder).
    pub fn db(&self) -> sled::Db {
        self.db.clone()
    }

    /// The stored book, or an empty one when there is none yet.
    pub fn load(&mut self) -> Result<IncidentBook, BookStoreError> {
        match self.db.get(BOOK_KEY).map_err(BookStoreError::Read)? {
            Some(bytes) => {
                self.written = bytes.to_vec();
                IncidentBook::from_bytes(&bytes).map_err(BookStoreError::Decode)
            }
            None => Ok(IncidentBook::new()),
        }
    }

    /// Stores `book` if it differs from what was stored, durably.
    pub fn save(&mut self, book: &IncidentBook) -> Result<(), BookStoreError> {
        let bytes = book.to_bytes();
        if bytes == self.written {
            return Ok(());
        }
        self.db
            .insert(BOOK_KEY, bytes.as_slice())
            .map_err(BookStoreError::Write)?;
        self.db.flush().map_err(BookStoreError::Write)?;
        self.written = bytes;
        Ok(())
    }
}
