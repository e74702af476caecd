//! Restarting the runtime in place, for when the PHP side cannot go on safely.
//!
//! The process `exec`s the same program with the same arguments and the environment it
//! started with. The pid stays, so Lambda (or the emulator) simply sees the runtime call
//! `/next` again, while PHP, Laravel and everything a stopped command left behind are gone.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Restart {
    program: PathBuf,
    args: Vec<OsString>,
    environment: Vec<(OsString, OsString)>,
}

impl Restart {
    /// Captures the program, its arguments and the environment as they are now; call it
    /// before init changes the environment.
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
        Ok(Self {
            program: std::env::current_exe()?,
            args,
            environment: std::env::vars_os().collect(),
        })
    }

    /// Replaces the process image. Returns only if `exec` failed.
    pub fn exec(&self) -> io::Error {
        let mut command = Command::new(&self.program);
        if let Some((argv0, rest)) = self.args.split_first() {
            command.arg0(argv0).args(rest);
        }
        command
            .env_clear()
            .envs(self.environment.iter().map(|(name, value)| (name, value)));
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
}
