"""Cold-start cost of decrypting the secrets file, for both formats.

Boots the runtime under AWS's Runtime Interface Emulator again and again, with the example
application and moto's KMS: without a secrets file, with a legacy file (openssl + a
KMS-wrapped key, as the original Hover CLI made them) and with a v2 file made by
hover-secrets, alternating between the three so that all see the same machine. Reported:
the runtime's own measure of decryption (read, KMS client, KMS Decrypt, AES, dotenv parse;
its `secrets: … decrypted in X ms` log line), init as the RIE reports it (process start to
the first `/next`), and the first invocation as the caller sees it (init included).

With secrets the runtime skips Laravel's config:cache (its file would hold them in
plaintext), so init with secrets is not init without them plus decryption.

    .venv/bin/python bench/secrets_cold_start.py [--boots 50]
"""

import argparse
import json
import pathlib
import re
import secrets
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from conftest import (  # noqa: E402
    EXAMPLE_APP,
    Runtime,
    hover_secrets,
    kms_client,
    legacy_secrets_file,
    start_moto,
)

STAGE = "bench"
SECRETS = "\n".join(
    [
        f"APP_KEY=base64:{secrets.token_urlsafe(32)}",
        f'DB_PASSWORD="{secrets.token_urlsafe(24)}"',
        f"REDIS_PASSWORD={secrets.token_urlsafe(24)}",
        f"MAIL_PASSWORD={secrets.token_urlsafe(24)}",
        f"STRIPE_SECRET=sk_live_{secrets.token_urlsafe(24)}",
        'PRIVATE_KEY="-----BEGIN PRIVATE KEY-----',
        *[secrets.token_urlsafe(48) for _ in range(20)],
        '-----END PRIVATE KEY-----"',
        "",
    ]
).encode()


def runtime_dir(root, name, secrets_file=None):
    directory = root / name
    directory.mkdir()
    manifest = json.loads((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
    manifest["name"] = STAGE
    if secrets_file is not None:
        del manifest["environment"]["APP_KEY"]
        (directory / ".env").write_bytes(secrets_file)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def boot_once(directory, runtime_files, aws):
    runtime = Runtime(directory, HOVER_RUNTIME_DIR=runtime_files, **aws)
    try:
        started = time.perf_counter()
        exit_code, output = runtime.command("hover:ping")
        first = (time.perf_counter() - started) * 1000
        assert exit_code == 0, output
        log = runtime.log()
        init = float(re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", log).group(1))
        decrypted = re.search(r"decrypted in ([\d.]+) ms", log)
        return first, init, float(decrypted.group(1)) if decrypted else None
    finally:
        runtime.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boots", type=int, default=50)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        moto, aws = start_moto(root / "moto.log")
        try:
            kms = kms_client(aws)
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=f"alias/{STAGE}-secrets-key", TargetKeyId=key_id)
            status, v2, stderr = hover_secrets(aws, "encrypt", "--stage", STAGE, "-", stdin=SECRETS)
            assert status == 0, stderr
            variants = {
                "no secrets file": runtime_dir(root, "none"),
                "legacy file (CBC)": runtime_dir(
                    root, "legacy", legacy_secrets_file(kms, f"alias/{STAGE}-secrets-key", SECRETS)
                ),
                "v2 file (GCM)": runtime_dir(root, "v2", v2),
            }
            samples = {name: [] for name in variants}
            for boot in range(options.boots):
                for name, files in variants.items():
                    samples[name].append(boot_once(root / f"boot-{boot}-{files.name}", files, aws))
        finally:
            moto.terminate()
            moto.wait()

    print(f"{options.boots} boots of each, medians (p90) in ms, {len(SECRETS)}-byte secrets file:\n")
    print("| secrets | decryption | init | first invocation |")
    print("|---|---:|---:|---:|")
    for name, runs in samples.items():
        def cell(values):
            values = sorted(values)
            return f"{statistics.median(values):.1f} ({values[int(0.9 * (len(values) - 1))]:.1f})"

        decryption = [run[2] for run in runs if run[2] is not None]
        print(
            f"| {name} | {cell(decryption) if decryption else '–'} | {cell(run[1] for run in runs)}"
            f" | {cell(run[0] for run in runs)} |"
        )


if __name__ == "__main__":
    main()
