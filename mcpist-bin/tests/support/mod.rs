//! What the store, crash and PostgreSQL tests share: a private home for the
//! real `mcpist` binary. (`cli.rs` keeps its own, older copy.)

#![allow(dead_code)] // Each test file uses a part.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mcpist");

/// A private home for one test: config and data directories of its own.
pub(crate) struct Home {
    pub(crate) dir: tempfile::TempDir,
}

impl Home {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data/mcpist")
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.data_dir().join("mcpist.db")
    }

    pub(crate) fn key_path(&self) -> PathBuf {
        self.data_dir().join("master.key")
    }

    pub(crate) fn write_config(&self, text: &str) {
        let path = self.dir.path().join("config/mcpist/mcpist.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `mcpist` with this home's XDG directories, no stray MCPIST_* variables,
    /// and `env` set.
    pub(crate) fn cmd(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        self.program(BIN, env, args)
    }

    /// [`Self::cmd`] for another program (which may start `mcpist`).
    pub(crate) fn program(&self, program: &str, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars() {
            if key.starts_with("MCPIST_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .envs(env.iter().copied())
            .args(args);
        cmd
    }

    /// Runs `mcpist args` with `input` on standard input (a pipe, not a terminal).
    pub(crate) fn run(&self, env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(env, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub(crate) fn run_ok(&self, env: &[(&str, &str)], args: &[&str], input: &str) -> Output {
        let out = self.run(env, args, input);
        assert!(
            out.status.success(),
            "mcpist {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every file under the data directory, concatenated.
    pub(crate) fn data_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.data_dir()).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
        }
        all
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
