"""An HTTP function with a secrets file: php-fpm's workers read the cached configuration,
which holds no secret, and see every secret through it."""

import json
import secrets

from http_events import body_of, v2
from test_secrets import Stage, files_containing, random_secrets

from conftest import hover_secrets


def test_php_fpm_reads_the_cached_configuration_and_no_secret_is_on_disk(start_runtime, moto, kms, tmp_path):
    stage = Stage(kms, tmp_path)
    values, plaintext, distinctive = random_secrets()
    status, encrypted, stderr = hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
    assert status == 0, stderr
    stage.secrets_file.write_bytes(encrypted)
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME="example-production-http", HOVER_RUNTIME_DIR=stage.runtime_dir, **moto)

    keys = ["app.key", "services.example.db_password", "services.example.database_url", "services.example.mail_password", "services.example.private_key", "services.example.dsn"]
    query = "&".join(f"keys[]={key}" for key in keys)
    response = runtime.invoke(v2(path="/config", query=query))
    assert response["statusCode"] == 200, response
    seen = json.loads(body_of(response))
    assert seen["cached"] is True, "the worker loaded the configuration cache"
    assert seen["values"] == {
        "app.key": values["APP_KEY"],
        "services.example.db_password": values["DB_PASSWORD"],
        "services.example.database_url": values["DATABASE_URL"],
        "services.example.mail_password": values["MAIL_PASSWORD"],
        "services.example.private_key": values["PRIVATE_KEY"],
        "services.example.dsn": f"pgsql://app:{values['DB_PASSWORD']}@db/app",
    }
    cache = (runtime.storage / "bootstrap" / "cache" / "config.php").read_text()
    assert "'db_password' => \\getenv('DB_PASSWORD', true)," in cache
    assert "'dsn' => ('pgsql://app:' . \\getenv('DB_PASSWORD', true) . '@db/app')," in cache
    assert "not cached" not in runtime.log()
    assert files_containing(distinctive, runtime.storage, "/tmp", stage.runtime_dir) == []


def test_lambdas_credentials_are_secrets_too(start_runtime, tmp_path):
    """Lambda gives a function its role's credentials in the environment, and Laravel's
    default configs read them (the sqs connection here): with no secrets file at all, the
    configuration cache still holds none of them."""
    credentials = {
        "AWS_ACCESS_KEY_ID": "ASIA" + secrets.token_hex(8).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_SESSION_TOKEN": secrets.token_urlsafe(60),
    }
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME="example-production-http", **credentials)
    response = runtime.invoke(v2(path="/config", query="keys[]=queue.connections.sqs.key&keys[]=queue.connections.sqs.secret"))
    assert response["statusCode"] == 200, response
    seen = json.loads(body_of(response))
    assert seen["cached"] is True
    assert seen["values"] == {
        "queue.connections.sqs.key": credentials["AWS_ACCESS_KEY_ID"],
        "queue.connections.sqs.secret": credentials["AWS_SECRET_ACCESS_KEY"],
    }
    cache = (runtime.storage / "bootstrap" / "cache" / "config.php").read_text()
    assert "'secret' => \\getenv('AWS_SECRET_ACCESS_KEY', true)," in cache
    assert files_containing(list(credentials.values()), runtime.storage, tmp_path) == []
