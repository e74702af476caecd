//! `hover-secrets`: makes and reads the runtime's encrypted secrets files.
//!
//! `encrypt` turns a plain dotenv file into a v2 file for a stage and a KMS key; `decrypt`
//! prints the plaintext of a file of either format; `reencrypt` turns a file of either
//! format (a legacy one, typically) into a fresh v2 file. KMS is reached as the runtime
//! reaches it: the standard credential chain and region, `AWS_ENDPOINT_URL_KMS` /
//! `AWS_ENDPOINT_URL`. Plaintext is only ever read from a file or stdin and written to
//! stdout; the tool writes no plaintext anywhere.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hover_core::secrets::{self, SecretsError, aws_kms::AwsKms};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "hover-secrets",
    version,
    about = "Encrypts and decrypts Hover stage secrets files (<runtime dir>/.env) with AWS KMS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypts a plain dotenv file into a v2 secrets file.
    Encrypt {
        #[command(flatten)]
        target: Target,
        /// The plain dotenv file; `-` reads stdin.
        input: PathBuf,
    },
    /// Prints the plaintext of a secrets file of either format to stdout.
    Decrypt {
        /// The stage (the manifest's `name`) the file belongs to.
        #[arg(long)]
        stage: String,
        /// The secrets file; `-` reads stdin.
        input: PathBuf,
    },
    /// Re-encrypts a secrets file of either format (such as a legacy one) into a v2 file.
    Reencrypt {
        #[command(flatten)]
        target: Target,
        /// The stage the input file belongs to, when it is not the target stage.
        #[arg(long)]
        from_stage: Option<String>,
        /// The secrets file; `-` reads stdin.
        input: PathBuf,
    },
}

#[derive(Args)]
struct Target {
    /// The stage (the manifest's `name`) the file is bound to.
    #[arg(long)]
    stage: String,
    /// The KMS key id, ARN or alias [default: alias/<stage>-secrets-key].
    #[arg(long)]
    key: Option<String>,
    /// Where to write the encrypted file; `-` is stdout [default: stdout].
    #[arg(long, short)]
    output: Option<PathBuf>,
}

impl Target {
    fn key_id(&self) -> String {
        self.key
            .clone()
            .unwrap_or_else(|| secrets::stage_key_alias(&self.stage))
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hover-secrets: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    let kms = || AwsKms::from_environment().map_err(|error| error.to_string());
    match command {
        Command::Encrypt { target, input } => {
            let plaintext = read(&input)?;
            let sealed = secrets::encrypt(&plaintext, &target.key_id(), &target.stage, &kms()?)
                .map_err(describe)?;
            write(target.output.as_ref(), &sealed)
        }
        Command::Decrypt { stage, input } => {
            let plaintext = secrets::decrypt(&read(&input)?, &stage, &kms()?).map_err(describe)?;
            write(None, &plaintext)
        }
        Command::Reencrypt {
            target,
            from_stage,
            input,
        } => {
            let kms = kms()?;
            let from_stage = from_stage.as_deref().unwrap_or(&target.stage);
            let plaintext = secrets::decrypt(&read(&input)?, from_stage, &kms).map_err(describe)?;
            let sealed = secrets::encrypt(&plaintext, &target.key_id(), &target.stage, &kms)
                .map_err(describe)?;
            write(target.output.as_ref(), &sealed)
        }
    }
}

fn describe(error: SecretsError) -> String {
    error.to_string()
}

fn read(input: &PathBuf) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut bytes = Zeroizing::new(Vec::new());
    let result = if input.as_os_str() == "-" {
        // Growing the buffer would leave copies behind: read in blocks into one large enough.
        bytes.reserve(1 << 20);
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(input).and_then(|mut file| {
            let length = file.metadata()?.len();
            bytes.reserve(usize::try_from(length).unwrap_or(0) + 1);
            file.read_to_end(&mut bytes)
        })
    };
    result.map_err(|error| format!("cannot read {}: {error}", input.display()))?;
    Ok(bytes)
}

/// Where output goes: stdout when no file is named or the name is `-`, as for inputs.
fn destination(output: Option<&PathBuf>) -> Option<&PathBuf> {
    output.filter(|path| path.as_os_str() != "-")
}

fn write(output: Option<&PathBuf>, bytes: &[u8]) -> Result<(), String> {
    match destination(output) {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|error| format!("cannot write {}: {error}", path.display())),
        None => std::io::stdout()
            .write_all(bytes)
            .and_then(|()| std::io::stdout().flush())
            .map_err(|error| format!("cannot write to stdout: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_means_stdout_for_output_as_for_input() {
        let parse = |arguments: &[&str]| match Cli::try_parse_from(arguments).unwrap().command {
            Command::Encrypt { target, .. } | Command::Reencrypt { target, .. } => target.output,
            Command::Decrypt { .. } => unreachable!(),
        };
        for command in ["encrypt", "reencrypt"] {
            let dash = parse(&[
                "hover-secrets",
                command,
                "--stage",
                "s",
                "-o",
                "-",
                "in.env",
            ]);
            assert_eq!(destination(dash.as_ref()), None);
            let none = parse(&["hover-secrets", command, "--stage", "s", "in.env"]);
            assert_eq!(destination(none.as_ref()), None);
            let file = parse(&[
                "hover-secrets",
                command,
                "--stage",
                "s",
                "-o",
                "./-",
                "in.env",
            ]);
            assert_eq!(destination(file.as_ref()), Some(&PathBuf::from("./-")));
        }
    }
}
