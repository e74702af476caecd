//! The php-fpm supervisor against a real php-fpm (`$HOVER_PHP_FPM`, else `php-fpm` or
//! `php-fpm8.2` where the runtime would look for it). Requests are FastCGI records written
//! by hand, as a web server would send them.
//!
//! Each test has its own directory (run directory and scripts), so that they run in
//! parallel; each starts php-fpm from its own thread, which outlives it.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hover_core::fpm::{CurrentRequest, FpmError, FpmSettings, LogSink, PhpFpm};
use hover_core::log::LogFormat;

const READY_WITHIN: Duration = Duration::from_secs(5);

/// A test's directory: `run/` for php-fpm, `www/` for scripts. Removed when dropped.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("hover-fpm-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(path.join("www")).unwrap();
        for directory in [&path, &path.join("www")] {
            fs::set_permissions(directory, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self(path)
    }

    fn settings(&self, user_conf: Option<&str>) -> FpmSettings {
        let user_conf = user_conf.map(|text| {
            let path = self.0.join("php-fpm.conf");
            fs::write(&path, text).unwrap();
            path
        });
        let defaults =
            FpmSettings::from_env(&self.0, "8.2", |name| std::env::var(name).ok()).unwrap();
        FpmSettings {
            run_dir: self.0.join("run"),
            user_conf,
            ..defaults
        }
    }

    fn script(&self, name: &str, code: &str) -> PathBuf {
        let path = self.0.join("www").join(name);
        fs::write(&path, code).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Log records, as the sink wrote them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn sink(&self) -> LogSink {
        LogSink::new(LogFormat::Text, Box::new(self.clone()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits up to 2 s for a record holding `needle`; the log so far.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.text().contains(needle) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.text()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn start(settings: FpmSettings, log: &Captured) -> (PhpFpm, Arc<CurrentRequest>) {
    let current = Arc::new(CurrentRequest::default());
    let mut fpm = PhpFpm::start(settings, log.sink(), Arc::clone(&current)).unwrap();
    let started = Instant::now();
    fpm.wait_ready(READY_WITHIN).unwrap();
    println!("php-fpm ready in {:?}", started.elapsed());
    (fpm, current)
}

/// One FastCGI record.
fn record(kind: u8, content: &[u8]) -> Vec<u8> {
    let length = u16::try_from(content.len()).unwrap().to_be_bytes();
    let mut record = vec![1, kind, 0, 1, length[0], length[1], 0, 0];
    record.extend_from_slice(content);
    record
}

/// A FastCGI name-value pair, with 4-byte lengths where needed.
fn pair(name: &str, value: &str) -> Vec<u8> {
    let mut encoded = Vec::new();
    for length in [name.len(), value.len()] {
        if length < 128 {
            encoded.push(length as u8);
        } else {
            encoded.extend_from_slice(&(length as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    encoded.extend_from_slice(name.as_bytes());
    encoded.extend_from_slice(value.as_bytes());
    encoded
}

/// Runs `script` through php-fpm with a GET; its body (the response without headers).
fn get(socket: &Path, script: &Path) -> String {
    const BEGIN_REQUEST: u8 = 1;
    const END_REQUEST: u8 = 3;
    const PARAMS: u8 = 4;
    const STDIN: u8 = 5;
    const STDOUT: u8 = 6;
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let script = script.to_str().unwrap();
    let params: Vec<u8> = [
        ("SCRIPT_FILENAME", script),
        ("SCRIPT_NAME", script),
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/"),
        ("QUERY_STRING", ""),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ]
    .iter()
    .flat_map(|(name, value)| pair(name, value))
    .collect();
    let mut request = record(BEGIN_REQUEST, &[0, 1, 0, 0, 0, 0, 0, 0]);
    request.extend(record(PARAMS, &params));
    request.extend(record(PARAMS, &[]));
    request.extend(record(STDIN, &[]));
    stream.write_all(&request).unwrap();

    let mut stdout = Vec::new();
    loop {
        let mut header = [0; 8];
        stream.read_exact(&mut header).unwrap();
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let mut content = vec![0; length + usize::from(header[6])];
        stream.read_exact(&mut content).unwrap();
        match header[1] {
            STDOUT => stdout.extend_from_slice(&content[..length]),
            END_REQUEST => break,
            _ => {}
        }
    }
    let response = String::from_utf8(stdout).unwrap();
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no headers in {response:?}"));
    body.to_owned()
}

/// Whether `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, fields)| fields.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

/// The running processes of process group `group`.
fn group_members(group: u32) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, fields)| fields.split_whitespace().nth(2))
                    .and_then(|pgrp| pgrp.parse::<u32>().ok())
                    == Some(group)
            })
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// Waits up to 2 s for group `group` to be empty; what is left of it.
fn group_members_after_a_while(group: u32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let members = group_members(group);
        if members.is_empty() || Instant::now() >= deadline {
            return members;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const PID_SCRIPT: &str = "<?php echo getmypid();";

#[test]
fn it_starts_and_serves_a_request_in_a_private_directory() {
    let dir = TestDir::new("serves");
    let log = Captured::default();
    let (mut fpm, _) = start(dir.settings(None), &log);
    let script = dir.script("hello.php", "<?php echo 'hello from ', PHP_SAPI;");
    assert_eq!(get(&fpm.socket(), &script), "hello from fpm-fcgi");

    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let run_dir = dir.0.join("run");
    assert_eq!(mode(&run_dir), 0o700);
    assert_eq!(mode(&run_dir.join("php-fpm.conf")), 0o600);
    assert_eq!(mode(&fpm.socket()), 0o600);
    let pid_file = fs::read_to_string(run_dir.join("php-fpm.pid")).unwrap();
    assert_eq!(pid_file.trim(), fpm.pid().to_string());
    let ready = "\tundefined\tINFO\tNOTICE: ready to handle connections\n";
    assert!(log.wait_for(ready).contains(ready), "{}", log.text());
}

#[test]
fn the_functions_directives_take_effect_and_its_listen_is_ignored_with_a_warning() {
    let dir = TestDir::new("directives");
    let user_conf = "; tuning\n\
                     pm.max_requests = 2\n\
                     php_admin_value[memory_limit] = 96M\n\
                     listen = 127.0.0.1:9\n";
    let log = Captured::default();
    let (fpm, _) = start(dir.settings(Some(user_conf)), &log);
    let script = dir.script(
        "ini.php",
        "<?php echo ini_get('memory_limit'), ' ', getmypid();",
    );
    let answers: Vec<String> = (0..3).map(|_| get(&fpm.socket(), &script)).collect();
    let workers: Vec<&str> = answers
        .iter()
        .map(|answer| answer.strip_prefix("96M ").expect(answer))
        .collect();
    assert_eq!(workers[0], workers[1]);
    assert_ne!(
        workers[1], workers[2],
        "the worker is replaced after 2 requests"
    );
    let warning = format!(
        "\tWARN\t{} line 4 ignored (the runtime sets where php-fpm listens): listen = 127.0.0.1:9\n",
        dir.0.join("php-fpm.conf").display()
    );
    assert!(log.text().contains(&warning), "{}", log.text());
}

#[test]
fn a_stale_socket_and_pid_file_do_not_break_a_start() {
    let dir = TestDir::new("stale");
    let settings = dir.settings(None);
    fs::create_dir_all(&settings.run_dir).unwrap();
    // A socket nobody listens on any more, and the pid of a process that has ended.
    drop(UnixListener::bind(settings.socket()).unwrap());
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    fs::write(settings.pid_file(), format!("{}\n", ended.id())).unwrap();

    let log = Captured::default();
    let (fpm, _) = start(settings, &log);
    let script = dir.script("pid.php", PID_SCRIPT);
    assert!(get(&fpm.socket(), &script).parse::<u32>().is_ok());
}

#[test]
fn a_master_still_running_from_before_is_killed_with_its_workers() {
    let dir = TestDir::new("earlier");
    let script = dir.script("pid.php", PID_SCRIPT);
    let log = Captured::default();
    let (mut earlier, _) = start(dir.settings(None), &log);
    let earlier_worker: u32 = get(&earlier.socket(), &script).parse().unwrap();

    let (later, _) = start(dir.settings(None), &log);
    assert_eq!(
        earlier.exited().as_deref(),
        Some("ended, and was reaped elsewhere")
    );
    assert_eq!(
        group_members_after_a_while(earlier.pid()),
        Vec::<u32>::new()
    );
    let worker: u32 = get(&later.socket(), &script).parse().unwrap();
    assert_ne!(worker, earlier_worker);
}

#[test]
fn a_killed_master_is_noticed_and_a_restart_leaves_no_worker_behind() {
    let dir = TestDir::new("restart");
    let script = dir.script("pid.php", PID_SCRIPT);
    let log = Captured::default();
    let (mut fpm, _) = start(dir.settings(None), &log);
    let worker: u32 = get(&fpm.socket(), &script).parse().unwrap();
    assert_eq!(fpm.exited(), None);

    let master = fpm.pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(master as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while fpm.exited().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(fpm.exited().as_deref(), Some("was killed by SIGKILL"));
    assert!(alive(worker), "the orphaned worker is still there");

    let started = Instant::now();
    fpm.restart(READY_WITHIN).unwrap();
    println!("php-fpm restarted in {:?}", started.elapsed());
    assert_eq!(group_members_after_a_while(master), Vec::<u32>::new());
    assert_ne!(fpm.pid(), master);
    assert_eq!(fpm.exited(), None);
    let new_worker: u32 = get(&fpm.socket(), &script).parse().unwrap();
    assert_ne!(new_worker, worker);
}

#[test]
fn a_broken_configuration_fails_at_once_with_php_fpms_message() {
    let dir = TestDir::new("broken");
    let log = Captured::default();
    let settings = dir.settings(Some("no_such_directive = 1\n"));
    let mut fpm = PhpFpm::start(settings, log.sink(), Arc::new(CurrentRequest::default())).unwrap();
    let started = Instant::now();
    let error = fpm.wait_ready(READY_WITHIN).unwrap_err();
    println!("failed in {:?}: {error}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(2));
    let FpmError::Exited { how, output } = &error else {
        panic!("{error}");
    };
    assert_eq!(how, "exited with status 78");
    assert!(
        output
            .iter()
            .any(|line| line.contains("unknown entry 'no_such_directive'")),
        "{output:?}"
    );
    assert!(error.to_string().contains("FPM initialization failed"));
    assert!(
        log.text().contains("\tERROR\tERROR: ["),
        "php-fpm's errors are logged too: {}",
        log.text()
    );
}

#[test]
fn stop_leaves_no_process_behind() {
    let dir = TestDir::new("stop");
    let script = dir.script("pid.php", PID_SCRIPT);
    let log = Captured::default();
    let (mut fpm, _) = start(dir.settings(None), &log);
    let worker: u32 = get(&fpm.socket(), &script).parse().unwrap();
    let master = fpm.pid();
    assert_eq!(group_members(master).len(), 2, "the master and its worker");

    let started = Instant::now();
    fpm.stop();
    println!("php-fpm stopped in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_millis(900), "gracefully");
    assert_eq!(group_members(master), Vec::<u32>::new());
    assert!(!Path::new(&format!("/proc/{master}")).exists(), "reaped");
    assert!(!alive(worker));
    assert!(
        log.wait_for("exiting, bye-bye!")
            .contains("exiting, bye-bye!")
    );
}

#[test]
fn workers_output_is_logged_with_the_current_request_id() {
    let dir = TestDir::new("output");
    let script = dir.script(
        "stderr.php",
        "<?php fwrite(fopen('php://stderr', 'w'), \"from the worker\\n\"); \
         error_log('through error_log'); echo 'done';",
    );
    let log = Captured::default();
    let (fpm, current) = start(dir.settings(None), &log);
    current.set("req-42");
    assert_eq!(get(&fpm.socket(), &script), "done");
    let text = log.wait_for("through error_log");
    current.clear();
    assert!(text.contains("\treq-42\tINFO\tfrom the worker\n"), "{text}");
    assert!(
        text.contains("\treq-42\tINFO\tNOTICE: PHP message: through error_log\n"),
        "{text}"
    );
}

/// As a user other than root (as in Lambda): php-fpm is not given `-R`, nor `user`
/// directives. When the tests run as root, this one runs again as `nobody`.
#[test]
fn it_serves_as_a_user_other_than_root() {
    const AS_OTHER_USER: &str = "HOVER_FPM_TEST_AS_OTHER_USER";
    if rustix::process::geteuid().is_root() && std::env::var_os(AS_OTHER_USER).is_none() {
        let output = std::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "it_serves_as_a_user_other_than_root",
                "--nocapture",
            ])
            .env(AS_OTHER_USER, "1")
            // Its directory goes in /tmp: a TMPDIR of root's may be closed to nobody.
            .env_remove("TMPDIR")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success());
        assert!(stdout.contains("1 passed"), "it ran");
        return;
    }
    let uid = rustix::process::geteuid().as_raw();
    assert_ne!(uid, 0);
    let dir = TestDir::new("other-user");
    let script = dir.script(
        "uid.php",
        "<?php preg_match('/^Uid:\\s+(\\d+)/m', file_get_contents('/proc/self/status'), $uid); \
         echo $uid[1];",
    );
    let log = Captured::default();
    let (fpm, _) = start(dir.settings(Some("user = www-data\n")), &log);
    assert_eq!(get(&fpm.socket(), &script), uid.to_string());
    assert!(
        log.text().contains("line 1 ignored (only root"),
        "{}",
        log.text()
    );
}

#[test]
fn a_binary_that_cannot_be_run_fails_the_wait_naming_it() {
    let dir = TestDir::new("unrunnable");
    let log = Captured::default();
    let not_a_program = dir.0.join("php-fpm");
    fs::write(&not_a_program, "not a program\n").unwrap();
    let settings = FpmSettings {
        binary: not_a_program.clone(),
        ..dir.settings(None)
    };
    // Starting php-fpm happens on its output thread: `start` returns at once.
    let mut fpm = PhpFpm::start(settings, log.sink(), Arc::new(CurrentRequest::default())).unwrap();
    let error = fpm.wait_ready(READY_WITHIN).unwrap_err();
    let FpmError::Exited { how, .. } = &error else {
        panic!("{error}");
    };
    assert!(how.starts_with("could not be started: "), "{how}");
    assert!(how.contains(&not_a_program.display().to_string()), "{how}");
    assert_eq!(fpm.pid(), 0);
    assert_eq!(fpm.exited().as_deref(), Some(how.as_str()));
}
