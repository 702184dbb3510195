//! Writing files so that nothing is lost: every output is written to a
//! temporary file beside it and renamed into place, so a full disk, an
//! error or a kill never leaves a half-written file where a good one was
//! (a device or a pipe, which has no file to lose, is written directly);
//! and no output may be one of the command's inputs.

use super::CliError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written beside its final place, moved there by
/// [`Partial::commit`]; removed if dropped before that (an error, a panic).
/// An output that already exists and is not a file (`/dev/null`, a named
/// pipe, a terminal) is written into directly: renaming a file over it
/// would replace the device with a file. One that is a symbolic link is
/// written where the link points, and the link stays.
pub struct Partial {
    file: Scratch,
    path: PathBuf,
}

enum Scratch {
    Beside(tempfile::NamedTempFile),
    Direct(std::fs::File),
}

impl Partial {
    /// Starts writing what will become `path` (its directory is created).
    pub fn create(path: &Path) -> Result<Partial, CliError> {
        let cannot =
            |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Err(CliError::input(format!(
                "cannot write {}: it is a directory",
                path.display()
            ))),
            Ok(m) if !m.is_file() => Ok(Partial {
                file: Scratch::Direct(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(cannot)?,
                ),
                path: path.to_path_buf(),
            }),
            // Through a link, to the file it names.
            Ok(_) => Partial::beside(&path.canonicalize().map_err(cannot)?, path),
            Err(_) => Partial::beside(path, path),
        }
    }

    /// A scratch file beside `path`, named in errors as `shown`.
    fn beside(path: &Path, shown: &Path) -> Result<Partial, CliError> {
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
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", shown.display())))?;
        Ok(Partial {
            file: Scratch::Beside(file),
            path: path.to_path_buf(),
        })
    }

    /// The open file, to stream into.
    pub fn file(&mut self) -> &mut std::fs::File {
        match &mut self.file {
            Scratch::Beside(f) => f.as_file_mut(),
            Scratch::Direct(f) => f,
        }
    }

    /// Makes the file durable and moves it into place.
    pub fn commit(mut self) -> Result<(), CliError> {
        let path = self.path.clone();
        let fail =
            |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
        self.file().flush().map_err(fail)?;
        match self.file {
            Scratch::Beside(file) => {
                file.as_file().sync_all().map_err(fail)?;
                file.persist(&self.path).map_err(|e| fail(e.error))?;
            }
            // A device or a pipe: nothing to make durable or to move.
            Scratch::Direct(_) => {}
        }
        Ok(())
    }

    /// Keeps what was written (a run that was cut short) under a name that
    /// says so, `NAME.partial`, beside where it was going; returns that path
    /// (none for a device or a pipe, which already has it).
    pub fn keep_partial(self) -> Option<PathBuf> {
        let Scratch::Beside(file) = self.file else {
            return None;
        };
        // Nothing written (an error before the run began): nothing to keep,
        // and the scratch file goes when dropped.
        if file.as_file().metadata().is_ok_and(|m| m.len() == 0) {
            return None;
        }
        let mut name = self.path.file_name()?.to_os_string();
        name.push(".partial");
        let to = self.path.with_file_name(name);
        file.persist(&to).ok().map(|_| to)
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_with(path, |out| out.write_all(bytes))
}

/// Writes to `path` atomically what `fill` streams into it (buffered),
/// for outputs too large to be made whole in memory first.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut p = Partial::create(path)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, p.file());
        fill(&mut out)
            .and_then(|()| out.flush())
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", path.display())))?;
    }
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

/// Makes the directory `--out` names (and its parents); a file already
/// there is named as such, not as the system's "File exists".
pub fn out_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::input(format!(
            "--out {} is a file: --out names a directory (for the summary and the traces the command writes)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::input(format!("cannot create {}: {e}", dir.display())))
}
