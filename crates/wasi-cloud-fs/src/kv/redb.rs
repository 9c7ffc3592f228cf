//! The embedded backend: one redb file holding every namespace and scope.

use super::{Cond, Entry, KvError, KvStore, LIST_PAGE, Listed, Meta, Scope};
use ::redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The store's version counter: `VERSION_KEY` holds the last version given.
const META: TableDefinition<&str, u64> = TableDefinition::new("kv-meta");
const VERSION_KEY: &str = "version";

/// Bytes before the value in a record: version, mtime, expiry (ns since
/// the epoch, 0 for none), little-endian `u64`s.
const HEADER: usize = 24;

/// A redb database file serving key-value scopes.
///
/// Each namespace and scope is a table (`kv/NAMESPACE/SCOPE`); each write
/// is a transaction committed with redb's default durability (fsync before
/// the commit returns). redb locks the file: one process opens it at a
/// time ([`RedbStore::open`] fails for the others).
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

impl RedbStore {
    /// Opens (or creates, with its parent directories) the database at
    /// `path`, repairing it if its last user was killed.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => {
                "it is open in another process (share keys between processes with Redis)"
                    .to_string()
            }
            e => e.to_string(),
        })?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The store of `scope` in `namespace`.
    pub fn scope(&self, namespace: &str, scope: Scope) -> Arc<dyn KvStore> {
        Arc::new(RedbScope {
            db: self.db.clone(),
            table: format!("kv/{namespace}/{}", scope.name()),
        })
    }
}

/// One table of a [`RedbStore`].
struct RedbScope {
    db: Arc<Database>,
    table: String,
}

/// A decoded record.
struct Record<'a> {
    version: u64,
    mtime_ns: u64,
    expires_ns: u64,
    value: &'a [u8],
}

impl<'a> Record<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, KvError> {
        if bytes.len() < HEADER {
            return Err(KvError::Unavailable("corrupt record in kv store".into()));
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        Ok(Record {
            version: word(0),
            mtime_ns: word(1),
            expires_ns: word(2),
            value: &bytes[HEADER..],
        })
    }

    fn encode(version: u64, mtime_ns: u64, expires_ns: u64, parts: &[&[u8]]) -> Vec<u8> {
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        let mut out = Vec::with_capacity(HEADER + len);
        for word in [version, mtime_ns, expires_ns] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for part in parts {
            out.extend_from_slice(part);
        }
        out
    }

    fn live(&self, now: u64) -> bool {
        self.expires_ns == 0 || self.expires_ns > now
    }

    fn meta(&self) -> Meta {
        Meta {
            size: self.value.len() as u64,
            mtime_ns: self.mtime_ns,
            version: self.version,
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn io(e: impl std::fmt::Display) -> KvError {
    KvError::Unavailable(format!("kv store: {e}"))
}

impl RedbScope {
    fn def(&self) -> TableDefinition<'_, &'static str, &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    /// Runs `f` on the record of `key` if it exists and has not expired.
    fn read<T>(&self, key: &str, f: impl FnOnce(Record<'_>) -> T) -> Result<Option<T>, KvError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = match txn.open_table(self.def()) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let Some(guard) = table.get(key).map_err(io)? else {
            return Ok(None);
        };
        let record = Record::decode(guard.value())?;
        Ok(record.live(now_ns()).then(|| f(record)))
    }

    /// Runs `f` in a write transaction, committing when it succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(
            &WriteTransaction,
            &mut dyn FnMut() -> Result<u64, KvError>,
        ) -> Result<T, KvError>,
    ) -> Result<T, KvError> {
        let txn = self.db.begin_write().map_err(io)?;
        let result = {
            let mut next_version = || -> Result<u64, KvError> {
                let mut meta = txn.open_table(META).map_err(io)?;
                let last = meta.get(VERSION_KEY).map_err(io)?.map_or(0, |g| g.value());
                meta.insert(VERSION_KEY, last + 1).map_err(io)?;
                Ok(last + 1)
            };
            f(&txn, &mut next_version)
        };
        match result {
            Ok(value) => {
                txn.commit().map_err(io)?;
                Ok(value)
            }
            Err(e) => {
                txn.abort().map_err(io)?;
                Err(e)
            }
        }
    }
}

impl KvStore for RedbScope {
    fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        self.read(key, |r| Entry {
            value: r.value.to_vec(),
            meta: r.meta(),
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Meta>, KvError> {
        self.read(key, |r| r.meta())
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        cond: Cond,
        ttl: Option<Duration>,
    ) -> Result<Meta, KvError> {
        self.write(|txn, next_version| {
            let mut table = txn.open_table(self.def()).map_err(io)?;
            let now = now_ns();
            let current = match table.get(key).map_err(io)? {
                Some(guard) => {
                    let record = Record::decode(guard.value())?;
                    record.live(now).then_some(record.version)
                }
                None => None,
            };
            match (cond, current) {
                (Cond::Any, _) | (Cond::Absent, None) => {}
                (Cond::Absent, Some(_)) => return Err(KvError::Exists),
                (Cond::Version(want), Some(have)) if want == have => {}
                (Cond::Version(_), _) => return Err(KvError::Conflict),
            }
            let version = next_version()?;
            let expires = ttl.map_or(0, |ttl| now.saturating_add(ttl.as_nanos() as u64));
            let record = Record::encode(version, now, expires, &[value]);
            table.insert(key, record.as_slice()).map_err(io)?;
            Ok(Meta {
                size: value.len() as u64,
                mtime_ns: now,
                version,
            })
        })
    }

    fn append(&self, key: &str, data: &[u8], max: u64) -> Result<Meta, KvError> {
        self.write(|txn, next_version| {
            let mut table = txn.open_table(self.def()).map_err(io)?;
            let now = now_ns();
            let (old, expires) = match table.get(key).map_err(io)? {
                Some(guard) => {
                    let record = Record::decode(guard.value())?;
                    if record.live(now) {
                        (record.value.to_vec(), record.expires_ns)
                    } else {
                        (Vec::new(), 0)
                    }
                }
                None => (Vec::new(), 0),
            };
            let size = old.len() as u64 + data.len() as u64;
            if size > max {
                return Err(KvError::TooBig);
            }
            let version = next_version()?;
            let record = Record::encode(version, now, expires, &[&old, data]);
            table.insert(key, record.as_slice()).map_err(io)?;
            Ok(Meta {
                size,
                mtime_ns: now,
                version,
            })
        })
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.write(|txn, _| {
            let mut table = txn.open_table(self.def()).map_err(io)?;
            let live = match table.remove(key).map_err(io)? {
                Some(guard) => Record::decode(guard.value())?.live(now_ns()),
                None => false,
            };
            if live { Ok(()) } else { Err(KvError::NotFound) }
        })
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), KvError> {
        self.write(|txn, _| {
            let mut table = txn.open_table(self.def()).map_err(io)?;
            let record = match table.get(from).map_err(io)? {
                Some(guard) => guard.value().to_vec(),
                None => return Err(KvError::NotFound),
            };
            if !Record::decode(&record)?.live(now_ns()) {
                return Err(KvError::NotFound);
            }
            if from != to {
                table.remove(from).map_err(io)?;
                table.insert(to, record.as_slice()).map_err(io)?;
            }
            Ok(())
        })
    }

    fn first_page(&self) -> usize {
        LIST_PAGE
    }

    fn list(&self, cookie: u64, max: usize) -> Result<Vec<Listed>, KvError> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = match txn.open_table(self.def()) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let now = now_ns();
        let mut out = Vec::new();
        let mut position = 0u64;
        for item in table.iter().map_err(io)? {
            let (key, value) = item.map_err(io)?;
            let record = Record::decode(value.value())?;
            if !record.live(now) {
                continue;
            }
            position += 1;
            if position <= cookie {
                continue;
            }
            out.push(Listed {
                next: position,
                key: key.value().to_string(),
                meta: record.meta(),
            });
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
}
