//! Restarting the runtime in place, for when PHP ended in the middle of an invocation and
//! the process cannot go on.
//!
//! The process `exec`s the same program with the same arguments and the environment init
//! settled (so the secrets are there and nothing an invocation changed is), plus a
//! [`Handoff`] that tells the new image what init already did. The pid stays, so Lambda
//! simply sees the runtime call `/next` again, and the new image neither reports to
//! `/init/error`, nor calls KMS, nor caches the configuration again. Children survive an
//! `exec`, so whatever the runtime supervises stays its own.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The variable that carries the handoff into the restarted image; init removes it.
pub const HANDOFF_VARIABLE: &str = "HOVER_RESTART_HANDOFF";

/// What init settled, for the restarted image. No secret values: those are in the
/// environment the image starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The process this was made for: its pid and its start time (which `exec` keeps), so
    /// that a handoff set by anything else (the function's configuration) is not believed.
    pub process: ProcessIdentity,
    /// How many restarts came before the one it starts.
    pub restarts: u32,
    /// Whether init loaded a secrets file.
    pub has_secrets: bool,
    /// The names init exported, in order, for `$_ENV` and `$_SERVER`.
    pub exported: Vec<String>,
}

impl Handoff {
    /// Reads a handoff meant for this very process; `None` for anything else.
    pub fn for_this_process(text: &str) -> Option<Self> {
        let handoff: Self = serde_json::from_str(text).ok()?;
        (ProcessIdentity::current().ok()? == handoff.process).then_some(handoff)
    }
}

/// A process, told apart from any other that ever had its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    pub pid: u32,
    /// Field 22 of `/proc/self/stat`: clock ticks from boot to the process's start.
    pub started: u64,
}

impl ProcessIdentity {
    pub fn current() -> io::Result<Self> {
        let stat = fs::read_to_string("/proc/self/stat")?;
        let started = stat
            .rsplit_once(')')
            .and_then(|(_, fields)| fields.split_whitespace().nth(19))
            .and_then(|ticks| ticks.parse().ok())
            .ok_or_else(|| io::Error::other("/proc/self/stat has no start time"))?;
        Ok(Self {
            pid: std::process::id(),
            started,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Restart {
    program: PathBuf,
    args: Vec<OsString>,
    environment: Vec<(OsString, OsString)>,
    /// The working directory and the file mode mask at init, which code the runtime ran
    /// may have changed (`chdir()`, `umask()`): the new image starts from them.
    working_directory: PathBuf,
    umask: libc::mode_t,
}

impl Restart {
    /// Captures the program, its arguments and the environment as they are now: call it
    /// at the end of init, once the environment is settled.
    ///
    /// The arguments come from `/proc/self/cmdline`: PHP's CLI moves its `argv` away at
    /// start-up (to be able to set the process title), which leaves `std::env::args_os()`
    /// empty inside an extension, while the kernel's copy stays intact.
    pub fn capture() -> io::Result<Self> {
        let cmdline = fs::read("/proc/self/cmdline")?;
        let args = cmdline.strip_suffix(&[0]).unwrap_or(&cmdline);
        let args = args
            .split(|byte| *byte == 0)
            .map(|arg| OsString::from_vec(arg.to_vec()))
            .collect();
        // SAFETY: umask(2) only sets the process's file mode mask and cannot fail; the mask
        // is put back at once (init runs on one thread, so nothing creates a file between).
        let umask = unsafe { libc::umask(0o022) };
        // SAFETY: as above.
        unsafe { libc::umask(umask) };
        Ok(Self {
            program: std::env::current_exe()?,
            args,
            environment: std::env::vars_os().collect(),
            working_directory: std::env::current_dir()?,
            umask,
        })
    }

    /// Replaces the process image, handing `handoff` over. Returns only if `exec` failed.
    ///
    /// What `exec` keeps but code the runtime ran may have changed is put back as init left
    /// it first: no alarm pending (a queue job's timeout, `pcntl_alarm`, whose signal would
    /// end the new image), the working directory, the file mode mask, and stdout and stderr
    /// (a job may have closed them: the new image would write into whatever took their
    /// descriptors).
    pub fn exec(&self, handoff: &Handoff) -> io::Error {
        // SAFETY: alarm(2) only changes this process's real-time timer; it takes no pointer
        // and cannot fail.
        unsafe { libc::alarm(0) };
        // SAFETY: umask(2) only sets the process's file mode mask and cannot fail.
        unsafe { libc::umask(self.umask) };
        crate::log::restore_stdio();
        let mut command = Command::new(&self.program);
        if let Some((argv0, rest)) = self.args.split_first() {
            command.arg0(argv0).args(rest);
        }
        let handoff = serde_json::to_string(handoff).expect("a handoff always serializes");
        command
            .current_dir(&self.working_directory)
            .env_clear()
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .env(HANDOFF_VARIABLE, handoff);
        command.exec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_this_process_as_the_kernel_sees_it() {
        let restart = Restart::capture().unwrap();
        assert_eq!(restart.program, std::env::current_exe().unwrap());
        assert_eq!(restart.args, std::env::args_os().collect::<Vec<_>>());
        assert!(restart.environment.iter().any(|(name, _)| name == "PATH"));
    }

    #[test]
    fn a_handoff_is_believed_only_by_the_process_it_was_made_for() {
        let this = ProcessIdentity::current().unwrap();
        assert_eq!(this, ProcessIdentity::current().unwrap(), "stable");
        let handoff = Handoff {
            process: this,
            restarts: 2,
            has_secrets: true,
            exported: vec!["APP_KEY".into(), "DB_PASSWORD".into()],
        };
        let text = serde_json::to_string(&handoff).unwrap();
        assert_eq!(Handoff::for_this_process(&text), Some(handoff.clone()));
        for other in [
            ProcessIdentity {
                pid: this.pid + 1,
                ..this
            },
            ProcessIdentity {
                started: this.started + 1,
                ..this
            },
        ] {
            let forged = serde_json::to_string(&Handoff {
                process: other,
                ..handoff.clone()
            })
            .unwrap();
            assert_eq!(Handoff::for_this_process(&forged), None);
        }
        assert_eq!(Handoff::for_this_process("{}"), None);
        assert_eq!(Handoff::for_this_process("not json"), None);
    }
}
