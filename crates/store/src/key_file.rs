//! The master key's file: one line of 64 hex digits, mode 0600, outside the database.
//!
//! - **Made once.** When the store has no key recorded yet and the file does not exist, a new
//!   key is written to a temporary file (O_EXCL, 0600, fsynced) and hard-linked into place:
//!   the link fails if another process got there first, so two processes starting on one path
//!   end up with the same key, and nobody ever reads a half-written file.
//! - **Refused when others can read it.** A key file readable or writable by group or others is
//!   an error naming the fix (`chmod 600`), as ssh does for private keys: the file is the one
//!   thing that turns a copied database back into credentials.
//! - **Rotation** writes the new key to `<file>.new` (0600, fsynced) before the store's
//!   transaction commits and renames it over the file after. A crash in between is repaired at
//!   the next open by [`MasterKeyFile::unlock`]: the store records which key it is sealed
//!   under, so whichever of the two files holds that key wins.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keypaird_inventory::StoreError;
use zeroize::Zeroizing;

use crate::sealing::{KeyId, MasterKey, MASTER_KEY_LEN};

/// Where a store's master key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyFile {
    path: PathBuf,
}

impl MasterKeyFile {
    pub fn new(path: impl Into<PathBuf>) -> MasterKeyFile {
        MasterKeyFile { path: path.into() }
    }

    /// The default for a SQLite store: beside the database, `<db>.master-key`.
    pub fn beside(database: &Path) -> MasterKeyFile {
        let mut name = database.as_os_str().to_owned();
        name.push(".master-key");
        MasterKeyFile::new(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where a rotation puts the new key until the store's commit.
    pub fn staged_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".new");
        PathBuf::from(name)
    }

    /// The key to use on a store that records `recorded` as the key it is sealed under (`None`:
    /// nothing sealed yet, so the file's key, made now if the file does not exist). Finishes a
    /// rotation that committed but did not rename, and removes one that never committed.
    pub fn unlock(&self, recorded: Option<KeyId>) -> Result<MasterKey, StoreError> {
        let staged = self.staged_path();
        let Some(recorded) = recorded else {
            return match read_key(&self.path)? {
                Some(key) => Ok(key),
                None => self.create(),
            };
        };
        let current = read_key(&self.path)?;
        let current_id = current.as_ref().map(MasterKey::id);
        if let Some(key) = current.filter(|key| key.id() == recorded) {
            if staged.exists() {
                // A rotation that stopped before its commit: its key sealed nothing.
                remove_if_present(&staged)?;
                tracing::warn!(file = %staged.display(), "removed the key of a rotation that never committed");
            }
            return Ok(key);
        }
        if let Some(key) = read_key(&staged)?.filter(|key| key.id() == recorded) {
            self.install_staged()?;
            tracing::warn!(
                file = %self.path.display(),
                key_id = %recorded,
                "finished a master key rotation that committed but had not replaced the key file"
            );
            return Ok(key);
        }
        Err(StoreError::Internal(match current_id {
            Some(id) => format!(
                "wrong master key: the store is sealed under master key {recorded}, but {} holds \
                 key {}; start with the key file the store was sealed under (--master-key-file)",
                self.path.display(),
                id
            ),
            None => format!(
                "missing master key: the store is sealed under master key {recorded}, but {} does \
                 not exist; start with the key file the store was sealed under (--master-key-file)",
                self.path.display()
            ),
        }))
    }

    /// Writes `key` to [`staged_path`](Self::staged_path), replacing a leftover.
    pub(crate) fn stage(&self, key: &MasterKey) -> Result<(), StoreError> {
        let staged = self.staged_path();
        remove_if_present(&staged)?;
        write_new(&staged, key)?;
        sync_parent(&staged)
    }

    /// Puts the staged key in the file's place.
    pub(crate) fn install_staged(&self) -> Result<(), StoreError> {
        std::fs::rename(self.staged_path(), &self.path)
            .map_err(|err| file_error("cannot replace the master key file", &self.path, err))?;
        sync_parent(&self.path)
    }

    fn create(&self) -> Result<MasterKey, StoreError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                file_error("cannot create the master key's directory", parent, err)
            })?;
        }
        let key = MasterKey::generate();
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(format!(".tmp-{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        remove_if_present(&temporary)?;
        write_new(&temporary, &key)?;
        let linked = std::fs::hard_link(&temporary, &self.path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                sync_parent(&self.path)?;
                tracing::info!(file = %self.path.display(), key_id = %key.id(), "created a new master key");
                Ok(key)
            }
            // Another process made it meanwhile; theirs is the key.
            Err(err) if err.kind() == ErrorKind::AlreadyExists => read_key(&self.path)?
                .ok_or_else(|| file_error("the master key file vanished", &self.path, err)),
            Err(err) => Err(file_error(
                "cannot create the master key file",
                &self.path,
                err,
            )),
        }
    }
}

/// The key in `path`, or `None` when there is no such file.
fn read_key(path: &Path) -> Result<Option<MasterKey>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(file_error("cannot read the master key file", path, err)),
    };
    let mode = file
        .metadata()
        .map_err(|err| file_error("cannot read the master key file", path, err))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(StoreError::Internal(format!(
            "the master key file {} is accessible to group or others (mode {:04o}): run \
             `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    let mut text = Zeroizing::new(String::new());
    // One line of hex and a newline; anything much longer is not a key file.
    (&mut file)
        .take(2 * MASTER_KEY_LEN as u64 + 16)
        .read_to_string(&mut text)
        .map_err(|err| file_error("cannot read the master key file", path, err))?;
    let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
    hex::decode_to_slice(text.trim_end(), bytes.as_mut()).map_err(|_| {
        StoreError::Internal(format!(
            "{} is not a keypaird master key file (one line of {} hex digits)",
            path.display(),
            2 * MASTER_KEY_LEN
        ))
    })?;
    Ok(Some(MasterKey::from_bytes(bytes)))
}

/// Creates `path` (it must not exist) readable by its owner only, writes `key` and fsyncs it.
fn write_new(path: &Path, key: &MasterKey) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| file_error("cannot create the master key file", path, err))?;
    let mut line = Zeroizing::new(hex::encode(key.bytes()));
    line.push('\n');
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| file_error("cannot write the master key file", path, err))
}

/// Makes a new name in the directory durable (a rename or link is not until its directory is).
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| file_error("cannot sync the master key's directory", parent, err))
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != ErrorKind::NotFound => {
            Err(file_error("cannot remove the stale key file", path, err))
        }
        _ => Ok(()),
    }
}

fn file_error(what: &str, path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Internal(format!("{what} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn made_on_first_use_with_mode_0600_then_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let file = MasterKeyFile::new(dir.path().join("sub/k.master-key"));
        let made = file.unlock(None).expect("made");
        assert_eq!(mode(file.path()), 0o600);
        let text = std::fs::read_to_string(file.path()).expect("read");
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert_eq!(file.unlock(None).expect("read").id(), made.id());
        assert_eq!(file.unlock(Some(made.id())).expect("read").id(), made.id());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("k.master-key")]);
    }

    #[test]
    fn a_wrong_or_missing_key_names_the_file_and_both_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let file = MasterKeyFile::new(dir.path().join("k.master-key"));
        let other = MasterKey::generate().id();
        let missing = file.unlock(Some(other)).expect_err("no file");
        assert_eq!(
            missing,
            StoreError::Internal(format!(
                "missing master key: the store is sealed under master key {other}, but {} does \
                 not exist; start with the key file the store was sealed under (--master-key-file)",
                file.path().display()
            ))
        );
        let key = file.unlock(None).expect("made").id();
        let wrong = file.unlock(Some(other)).expect_err("wrong key");
        assert_eq!(
            wrong,
            StoreError::Internal(format!(
                "wrong master key: the store is sealed under master key {other}, but {} holds \
                 key {key}; start with the key file the store was sealed under (--master-key-file)",
                file.path().display()
            ))
        );
    }

    #[test]
    fn readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let file = MasterKeyFile::new(dir.path().join("k.master-key"));
        file.unlock(None).expect("made");
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        assert_eq!(
            file.unlock(None).expect_err("group-readable").to_string(),
            format!(
                "store failure: the master key file {0} is accessible to group or others \
                 (mode 0640): run `chmod 600 {0}`",
                file.path().display()
            )
        );
    }

    #[test]
    fn garbage_is_not_a_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("k.master-key");
        std::fs::write(&path, "not a key\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            MasterKeyFile::new(&path).unlock(None).expect_err("garbage"),
            StoreError::Internal(format!(
                "{} is not a keypaird master key file (one line of 64 hex digits)",
                path.display()
            ))
        );
    }

    #[test]
    fn a_rotation_interrupted_either_side_of_its_commit_is_repaired() {
        let dir = tempfile::tempdir().expect("dir");
        let file = MasterKeyFile::new(dir.path().join("k.master-key"));
        let old = file.unlock(None).expect("made").id();
        let new = MasterKey::generate();
        let new_id = new.id();

        // Staged, never committed: the store still records the old key.
        file.stage(&new).expect("stage");
        assert_eq!(mode(&file.staged_path()), 0o600);
        assert_eq!(file.unlock(Some(old)).expect("old key").id(), old);
        assert!(!file.staged_path().exists());

        // Staged and committed, not renamed: the store records the new key.
        file.stage(&new).expect("stage");
        assert_eq!(file.unlock(Some(new_id)).expect("new key").id(), new_id);
        assert!(!file.staged_path().exists());
        assert_eq!(file.unlock(Some(new_id)).expect("installed").id(), new_id);
        assert_eq!(mode(file.path()), 0o600);
    }
}
