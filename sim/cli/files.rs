//! Writing files so that nothing is lost: every output is written to a
//! temporary file beside it and renamed into place, so a full disk, an
//! error or a kill never leaves a half-written file where a good one was;
//! and no output may be one of the command's inputs.

use super::CliError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written beside its final place, moved there by
/// [`Partial::commit`]; removed if dropped before that (an error, a panic).
pub struct Partial {
    file: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Partial {
    /// Starts writing what will become `path` (its directory is created).
    pub fn create(path: &Path) -> Result<Partial, CliError> {
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .map_err(|e| CliError::input(format!("cannot create {}: {e}", d.display())))?;
                d.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        // A scratch file is private (0600); the file it becomes is not.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let file = builder
            .tempfile_in(&dir)
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", path.display())))?;
        Ok(Partial {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The open file, to stream into.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file.as_file_mut()
    }

    /// Makes the file durable and moves it into place.
    pub fn commit(mut self) -> Result<(), CliError> {
        let path = self.path.clone();
        let fail =
            |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
        self.file.as_file_mut().flush().map_err(fail)?;
        self.file.as_file().sync_all().map_err(fail)?;
        self.file.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }

    /// Keeps what was written (a run that was cut short) under a name that
    /// says so, `NAME.partial`, beside where it was going; returns that path.
    pub fn keep_partial(self) -> Option<PathBuf> {
        let mut name = self.path.file_name()?.to_os_string();
        name.push(".partial");
        let to = self.path.with_file_name(name);
        self.file.persist(&to).ok().map(|_| to)
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut p = Partial::create(path)?;
    p.file()
        .write_all(bytes)
        .map_err(|e| CliError::input(format!("cannot write {}: {e}", path.display())))?;
    p.commit()
}

/// Refuses an output path that is one of the command's inputs: writing
/// there would destroy the input.
pub fn refuse_overwrite(output: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    let Ok(out) = output.canonicalize() else {
        // Does not exist yet: it cannot be an input.
        return Ok(());
    };
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i == out) {
            return Err(CliError::input(format!(
                "{} is an input of this command; writing there would destroy it (choose another output)",
                output.display()
            )));
        }
    }
    Ok(())
}
