//! Man pages and shell completions generated from the clap command definition (`clap_mangen`,
//! `clap_complete`). Owns only the generation; the binary exposes it as `cspguard man` and
//! `cspguard completions SHELL`, and the Debian package ships what they write
//! (`deploy/build-deb.sh`).

use std::io::Write;
use std::path::{Path, PathBuf};

pub use clap_complete::Shell;

/// Why a man page or completion script could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// Creating the output directory or writing a page failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Writing to a stream (stdout) failed.
    #[error("cannot write the output: {0}")]
    Stream(#[from] std::io::Error),
}

/// Write one roff man page per command into `dir` (created when missing): `cspguard.1` for the
/// top level and `cspguard-<sub>[-<subsub>].1` for every subcommand. Returns the files written.
pub fn write_man_pages(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    std::fs::create_dir_all(dir).map_err(|source| DocsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut cmd = cmd;
    cmd.build();
    let mut written = Vec::new();
    write_page_tree(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_page_tree(
    cmd: &clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), DocsError> {
    let path = dir.join(format!(
        "{}.1",
        cmd.get_display_name().unwrap_or(cmd.get_name())
    ));
    let mut page = Vec::new();
    render_page(cmd, &mut page)?;
    std::fs::write(&path, page).map_err(|source| DocsError::Write {
        path: path.clone(),
        source,
    })?;
    written.push(path);
    // clap's generated `help` subcommand gets no page of its own.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_page_tree(sub, dir, written)?;
    }
    Ok(())
}

/// Write the man page of `cmd` (top level only) to `out`.
pub fn render_page(cmd: &clap::Command, out: &mut dyn Write) -> Result<(), DocsError> {
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    Ok(())
}

/// Write the completion script for `shell` to `out`.
pub fn completions(shell: Shell, cmd: clap::Command, out: &mut dyn Write) {
    let mut cmd = cmd;
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

impl crate::exit::ExitStatus for DocsError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("A demo")
            .subcommand(clap::Command::new("run").about("Run it"))
            .subcommand(
                clap::Command::new("ledger")
                    .subcommand(clap::Command::new("show").about("Show the ledger")),
            )
    }

    #[test]
    fn one_page_per_command_with_flattened_names() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(demo(), dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"demo.1".to_owned()), "{names:?}");
        assert!(names.contains(&"demo-run.1".to_owned()), "{names:?}");
        assert!(
            names.contains(&"demo-ledger-show.1".to_owned()),
            "{names:?}"
        );
        let page = std::fs::read_to_string(dir.path().join("demo-run.1")).unwrap();
        assert!(page.contains(".TH") && page.contains("Run it"), "{page}");
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut out = Vec::new();
        completions(Shell::Bash, demo(), &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(
            script.contains("run") && script.contains("ledger"),
            "{script}"
        );
    }
}
