//! The FastCGI client against a real php-fpm (`/usr/sbin/php-fpm8.2`), one php-fpm of its
//! own per test, with a single worker, scripts from `tests/fixtures/fastcgi` and no
//! php.ini. Skipped, saying so, where php-fpm is not installed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use hover_core::fastcgi::{FastCgiClient, FastCgiError, Request, Response, Stage};

const PHP_FPM: &str = "/usr/sbin/php-fpm8.2";
const PATIENCE: Duration = Duration::from_secs(10);

/// A php-fpm master with a pool `t` of one worker, stopped when dropped.
struct PhpFpm {
    master: Child,
    directory: PathBuf,
}

impl PhpFpm {
    /// `None` (after saying why) if php-fpm is not installed. `pool_settings` are added
    /// to the pool's.
    fn start(name: &str, pool_settings: &str) -> Option<Self> {
        if !Path::new(PHP_FPM).exists() {
            eprintln!("skipped: {PHP_FPM} is not installed");
            return None;
        }
        let directory =
            std::env::temp_dir().join(format!("hover-fpm-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&directory);
        fs::create_dir_all(&directory).unwrap();
        let dir = directory.display();
        let config = directory.join("php-fpm.conf");
        fs::write(
            &config,
            format!(
                "[global]\npid = {dir}/fpm.pid\nerror_log = {dir}/fpm.log\ndaemonize = no\n\n\
                 [t]\nlisten = {dir}/fpm.sock\npm = static\npm.max_children = 1\n\
                 clear_env = no\ncatch_workers_output = yes\ndecorate_workers_output = no\n\
                 {pool_settings}\n"
            ),
        )
        .unwrap();
        let mut command = Command::new(PHP_FPM);
        command.arg("-n").arg("-F").arg("-y").arg(&config);
        if rustix::process::geteuid().is_root() {
            command.arg("-R");
        }
        let php_fpm = Self {
            master: command.spawn().unwrap(),
            directory,
        };
        php_fpm.wait_until_listening();
        Some(php_fpm)
    }

    fn socket(&self) -> PathBuf {
        self.directory.join("fpm.sock")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.directory.join("fpm.log")).unwrap_or_default()
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(
                started.elapsed() < PATIENCE,
                "php-fpm did not listen; its log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.master);
        // SIGQUIT: a graceful stop, which removes the socket.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::QUIT);
        let started = Instant::now();
        while self.master.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(5) {
                let _ = self.master.kill();
                let _ = self.master.wait();
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.directory);
    }
}

fn script(name: &str) -> String {
    format!(
        "{}/tests/fixtures/fastcgi/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The CGI parameters php-fpm needs to run `script_name` with `body`, and `extra`.
fn params(script_name: &str, body: &[u8], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params = vec![
        ("SCRIPT_FILENAME".to_owned(), script(script_name)),
        ("REQUEST_METHOD".to_owned(), "POST".to_owned()),
        (
            "CONTENT_TYPE".to_owned(),
            "application/octet-stream".to_owned(),
        ),
        ("CONTENT_LENGTH".to_owned(), body.len().to_string()),
    ];
    params.extend(
        extra
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
    );
    params
}

#[derive(Debug)]
struct Sent {
    response: Response,
    stderr: Vec<u8>,
}

impl Sent {
    /// The body after php-fpm's CGI headers.
    fn body(&self) -> &[u8] {
        let stdout = &self.response.stdout;
        let end_of_headers = stdout
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no headers in {:?}", String::from_utf8_lossy(stdout)));
        &stdout[end_of_headers + 4..]
    }
}

fn send_with(
    client: &mut FastCgiClient,
    script_name: &str,
    body: &[u8],
    extra: &[(&str, &str)],
    within: Duration,
    max_stdout: usize,
) -> Result<Sent, FastCgiError> {
    let params = params(script_name, body, extra);
    let request = Request {
        params: &params,
        stdin: body,
    };
    let mut stderr = Vec::new();
    let response = client.send(
        &request,
        Instant::now() + within,
        max_stdout,
        &mut |bytes| stderr.extend_from_slice(bytes),
    )?;
    Ok(Sent { response, stderr })
}

fn send(php_fpm: &PhpFpm, script_name: &str, body: &[u8], extra: &[(&str, &str)]) -> Sent {
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    send_with(&mut client, script_name, body, extra, PATIENCE, usize::MAX).unwrap()
}

#[test]
fn parameters_reach_the_script() {
    let Some(php_fpm) = PhpFpm::start("params", "") else {
        return;
    };
    let long = "l".repeat(60_000);
    let sent = send(
        &php_fpm,
        "params.php",
        b"",
        &[
            ("QUERY_STRING", "a=1&b=%C3%A9"),
            ("HTTP_X_HOVER", "yes"),
            ("HTTP_X_LONG", &long),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(sent.body()),
        "REQUEST_METHOD=POST\nQUERY_STRING=a=1&b=%C3%A9\nHTTP_X_HOVER=yes\n\
         HTTP_X_LONG length=60000\n"
    );
    assert_eq!(sent.response.stdout_total, sent.response.stdout.len());
    assert_eq!(sent.response.app_status, 0);
    assert!(sent.stderr.is_empty(), "{:?}", sent.stderr);
}

#[test]
fn a_6_mb_body_is_echoed_back_whole() {
    let Some(php_fpm) = PhpFpm::start("body", "") else {
        return;
    };
    let body: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = send(&php_fpm, "body.php", &body, &[]);
    assert!(sent.body() == body, "{} bytes came back", sent.body().len());
}

#[test]
fn output_past_the_cap_is_counted_but_not_kept() {
    let Some(php_fpm) = PhpFpm::start("output", "") else {
        return;
    };
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    let cap = 1 << 20;
    let sent = send_with(&mut client, "output.php", b"", &[], PATIENCE, cap).unwrap();
    assert_eq!(sent.response.stdout.len(), cap);
    let headers_len = sent.body().as_ptr() as usize - sent.response.stdout.as_ptr() as usize;
    assert_eq!(sent.response.stdout_total, headers_len + (7 << 20));
    assert!(sent.body().iter().all(|&byte| byte == b'x'));
}

#[test]
fn php_log_comes_in_stderr_records_apart_from_the_output() {
    let Some(php_fpm) = PhpFpm::start("stderr", "") else {
        return;
    };
    let sent = send(&php_fpm, "stderr.php", b"", &[]);
    assert_eq!(sent.body(), b"done");
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert_eq!(stderr, "PHP message: to the FastCGI client");
    // The worker's own stderr went to php-fpm's log instead (catch_workers_output).
    let started = Instant::now();
    while !php_fpm.log().contains("to the worker's stderr") {
        assert!(
            started.elapsed() < PATIENCE,
            "not in php-fpm's log:\n{}",
            php_fpm.log()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_script_past_the_deadline_times_out() {
    let Some(php_fpm) = PhpFpm::start("deadline", "") else {
        return;
    };
    let pid_file = php_fpm.directory.join("worker.pid");
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    let started = Instant::now();
    let within = Duration::from_millis(300);
    let extra = [("PID_FILE", pid_file.to_str().unwrap())];
    let error = send_with(&mut client, "sleep.php", b"", &extra, within, usize::MAX).unwrap_err();
    assert!(
        matches!(
            error,
            FastCgiError::Timeout {
                stage: Stage::Receiving
            }
        ),
        "{error:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= within && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

#[test]
fn a_worker_killed_mid_request_closed_the_connection_early() {
    let Some(php_fpm) = PhpFpm::start("killed", "") else {
        return;
    };
    let pid_file = php_fpm.directory.join("worker.pid");
    let killer = {
        let pid_file = pid_file.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let pid = loop {
                match fs::read_to_string(&pid_file).map(|pid| pid.parse::<i32>()) {
                    Ok(Ok(pid)) => break pid,
                    _ if started.elapsed() < PATIENCE => thread::sleep(Duration::from_millis(5)),
                    _ => panic!("the script did not write its pid"),
                }
            };
            let pid = rustix::process::Pid::from_raw(pid).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        })
    };
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    let extra = [("PID_FILE", pid_file.to_str().unwrap())];
    let error = send_with(&mut client, "sleep.php", b"", &extra, PATIENCE, usize::MAX).unwrap_err();
    killer.join().unwrap();
    assert!(matches!(error, FastCgiError::ClosedEarly), "{error:?}");
}

#[test]
fn a_stopped_php_fpm_cannot_be_connected_to() {
    let Some(mut php_fpm) = PhpFpm::start("stopped", "") else {
        return;
    };
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    send_with(&mut client, "pid.php", b"", &[], PATIENCE, usize::MAX).unwrap();
    php_fpm.stop();
    let error = send_with(&mut client, "pid.php", b"", &[], PATIENCE, usize::MAX).unwrap_err();
    assert!(matches!(error, FastCgiError::Connect(_)), "{error:?}");
}

#[test]
fn no_request_fails_while_php_fpm_recycles_its_worker_every_5_requests() {
    let Some(php_fpm) = PhpFpm::start("recycled", "pm.max_requests = 5") else {
        return;
    };
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    let mut workers = HashSet::new();
    for request in 0..200 {
        let sent = send_with(&mut client, "pid.php", b"", &[], PATIENCE, usize::MAX)
            .unwrap_or_else(|error| panic!("request {request}: {error}"));
        workers.insert(String::from_utf8(sent.body().to_vec()).unwrap());
    }
    assert_eq!(workers.len(), 40, "200 requests, 5 per worker");
}

/// The median time of a round trip to php-fpm for a trivial script. Run it with
/// `cargo test --release --test fastcgi_php_fpm -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
fn round_trip_median() {
    let Some(php_fpm) = PhpFpm::start("round-trip", "") else {
        return;
    };
    let mut client = FastCgiClient::new(&php_fpm.socket()).unwrap();
    let mut times: Vec<Duration> = (0..1100)
        .map(|_| {
            let started = Instant::now();
            send_with(&mut client, "pid.php", b"", &[], PATIENCE, usize::MAX).unwrap();
            started.elapsed()
        })
        .skip(100)
        .collect();
    times.sort();
    println!(
        "round trip over {} requests: median {:?}, 90th percentile {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
}
