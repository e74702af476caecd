<?php

declare(strict_types=1);

namespace Hover;

use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bootstrap\LoadConfiguration;
use Illuminate\Support\Env;
use RuntimeException;

/**
 * Writes Laravel's configuration cache from the application this process booted, as
 * `config:cache` would write it from a second one, for every later PHP process of the
 * container (php-fpm's workers above all, then restarts and `--env` commands).
 *
 * With a secrets file loaded, no secret value may reach the file, which lives on disk.
 * A value that comes from a secret is written as the expression that reads it from the
 * environment instead (`Env::get('DB_PASSWORD')`, or a concatenation with
 * `getenv('DB_PASSWORD', true)` when the secret is part of a longer string). Every PHP
 * process of the container inherits that environment, so the expressions give the same
 * values; OPcache keeps the rest of the array literal, and a request pays a few
 * microseconds for the lookups.
 *
 * Which values come from a secret is found two ways: the app's config files are evaluated
 * a second time with every secret replaced by a marker in `$_SERVER` and `$_ENV` (where
 * `env()` reads), and every value that changes is secret-derived; and any string holding a
 * secret's value verbatim is too (config that calls `getenv()` itself, or config merged by
 * packages). A secret-derived value that is neither the secret nor a string containing it
 * (`explode()`, `base64_decode()`, an `(int)` cast of one) cannot be written as an
 * expression: then no cache is written, with a warning naming the key, and the workers
 * read the config files on every request, as they would without a cache. The file is
 * required once before it is used and must give back exactly the configuration.
 */
final class ConfigCache
{
    /** Shorter secrets are replaced where they are a whole value, not inside strings. */
    private const MIN_SUBSTRING_SECRET = 4;

    /** @var array<string, string> secret name => value */
    private array $secrets = [];

    /** @var array<string, string> marker => secret name */
    private array $markers = [];

    /** @var array<string, string> placeholder => PHP expression */
    private array $expressions = [];

    private string $placeholderPrefix;

    /**
     * @param list<string> $secretNames the variables whose values are secrets
     */
    public function __construct(private Application $app, array $secretNames)
    {
        foreach ($secretNames as $name) {
            $value = getenv($name, true);
            if (is_string($value) && $value !== '') {
                $this->secrets[$name] = $value;
            }
        }
        $this->placeholderPrefix = 'hover-expression-' . bin2hex(random_bytes(8)) . '-';
    }

    /**
     * Writes the cache file where Laravel looks for it. Returns null when it was written,
     * else why not (secret-derived values that cannot be expressed), for a warning.
     */
    public function write(): ?string
    {
        $config = $this->app['config']->all();
        $path = $this->app->getCachedConfigPath();
        if ($this->secrets === []) {
            $code = '<?php return ' . var_export($config, true) . ';' . PHP_EOL;
        } else {
            $perturbed = $this->configWithSecretsMarked();
            $unexpressible = [];
            $withPlaceholders = $this->replaceSecretValues($config, $perturbed, '', $unexpressible);
            if ($unexpressible !== []) {
                return 'these configuration values are computed from secrets in a way that cannot be cached '
                    . 'without writing the secret to disk: ' . implode(', ', array_slice($unexpressible, 0, 10));
            }
            $code = strtr(
                '<?php return ' . var_export($withPlaceholders, true) . ';' . PHP_EOL,
                $this->expressions
            );
        }
        $this->publish($path, $code, $config);

        return null;
    }

    /**
     * Writes `$code` next to `$path`, requires it, and renames it into place only if it
     * gives back `$config` exactly.
     *
     * @param array<mixed> $config
     */
    private function publish(string $path, string $code, array $config): void
    {
        $temporary = $path . '.' . getmypid() . '.tmp';
        if (file_put_contents($temporary, $code) !== strlen($code)) {
            @unlink($temporary);
            throw new RuntimeException("cannot write {$temporary}");
        }
        try {
            $loaded = require $temporary;
        } catch (\Throwable $e) {
            @unlink($temporary);
            throw new RuntimeException('the configuration is not serializable: ' . $e->getMessage(), 0, $e);
        }
        if ($loaded !== $config) {
            @unlink($temporary);
            throw new RuntimeException('the cached configuration would differ from the application\'s');
        }
        if (!rename($temporary, $path)) {
            @unlink($temporary);
            throw new RuntimeException("cannot move the configuration cache to {$path}");
        }
    }

    /**
     * The app's config files evaluated again with each secret's value replaced by a marker
     * where `env()` reads it. Only `$_SERVER` and `$_ENV` change (PHP arrays), never the
     * process environment.
     *
     * @return array<string, mixed>
     */
    private function configWithSecretsMarked(): array
    {
        $saved = [$_SERVER, $_ENV];
        foreach (array_keys($this->secrets) as $index => $name) {
            $marker = "\x01hover-secret-{$index}-" . bin2hex(random_bytes(4)) . "\x01";
            $this->markers[$marker] = $name;
            $_SERVER[$name] = $marker;
            $_ENV[$name] = $marker;
        }
        try {
            $files = (new class () extends LoadConfiguration {
                /** @return array<string, string> */
                public function files(Application $app): array
                {
                    return $this->getConfigurationFiles($app);
                }
            })->files($this->app);
            $config = [];
            foreach ($files as $key => $file) {
                $config[$key] = require $file;
            }

            return $config;
        } finally {
            [$_SERVER, $_ENV] = $saved;
        }
    }

    /**
     * `$value` with every secret-derived leaf replaced by a placeholder whose expression
     * is recorded; the keys of leaves that cannot be expressed are added to `$unexpressible`.
     * `$marked` is what the config files gave at the same place with the secrets marked
     * (`$value` itself where they did not give it: values that providers added).
     *
     * @param list<string> $unexpressible
     */
    private function replaceSecretValues(mixed $value, mixed $marked, string $key, array &$unexpressible): mixed
    {
        if (is_array($value)) {
            // Keys that only the marked evaluation has: a secret decided the array's shape
            // (keys taken from one, an `explode()` of one).
            if (is_array($marked) && array_diff_key($marked, $value) !== []) {
                $unexpressible[] = $key;

                return $value;
            }
            foreach ($value as $name => $item) {
                $inner = is_array($marked) && array_key_exists($name, $marked) ? $marked[$name] : $item;
                $path = $key === '' ? (string) $name : "{$key}.{$name}";
                $value[$name] = $this->replaceSecretValues($item, $inner, $path, $unexpressible);
            }

            return $value;
        }
        $derived = $marked !== $value;
        $expression = $derived ? $this->derivedExpression($value, $marked) : $this->containedSecrets($value);
        if ($expression === null) {
            if ($derived) {
                $unexpressible[] = $key;
            }

            return $value;
        }
        $placeholder = $this->placeholderPrefix . count($this->expressions);
        $this->expressions[var_export($placeholder, true)] = $expression;

        return $placeholder;
    }

    /**
     * The expression for a value that changed when the secrets were marked: a secret as
     * `env()` gave it, or a string built around secrets; null for anything else.
     */
    private function derivedExpression(mixed $value, mixed $marked): ?string
    {
        $name = is_string($marked) ? ($this->markers[$marked] ?? null) : null;
        if ($name !== null) {
            if ($value === $this->secrets[$name]) {
                return self::getenv($name);
            }
            // `env()` turned it into something else ('true', '(null)', quotes): the same
            // call gives the same value in the workers.
            return $this->readsCleanly($name) && $value === Env::get($name)
                ? '\\Illuminate\\Support\\Env::get(' . var_export($name, true) . ')'
                : null;
        }
        if (!is_string($value) || !is_string($marked)) {
            return null;
        }
        $parts = preg_split("/(\x01hover-secret-\\d+-[0-9a-f]{8}\x01)/", $marked, -1, PREG_SPLIT_DELIM_CAPTURE);
        $rebuilt = '';
        $pieces = [];
        foreach ($parts as $index => $part) {
            if ($index % 2 === 1) {
                $rebuilt .= $this->secrets[$this->markers[$part]];
                $pieces[] = self::getenv($this->markers[$part]);
            } elseif ($part !== '') {
                $rebuilt .= $part;
                $pieces[] = var_export($part, true);
            }
        }

        return $rebuilt === $value ? '(' . implode(' . ', $pieces) . ')' : null;
    }

    /**
     * A string that is a secret, or holds one verbatim (config that calls `getenv()`
     * itself, config merged by packages), rebuilt as literals and `getenv()` calls; null
     * for any other value. Secrets shorter than MIN_SUBSTRING_SECRET are only looked for
     * as whole values: inside strings they would match everywhere.
     */
    private function containedSecrets(mixed $value): ?string
    {
        if (!is_string($value) || $value === '') {
            return null;
        }
        $name = array_search($value, $this->secrets, true);
        if ($name !== false) {
            return self::getenv($name);
        }
        $contained = array_filter(
            $this->secrets,
            static fn (string $secret): bool
                => strlen($secret) >= self::MIN_SUBSTRING_SECRET && str_contains($value, $secret)
        );
        if ($contained === []) {
            return null;
        }
        // Longest first, so that a secret inside another is not split out of it.
        uasort($contained, static fn (string $a, string $b): int => strlen($b) <=> strlen($a));
        $quoted = array_map(static fn (string $secret): string => preg_quote($secret, '/'), $contained);
        $pattern = '/(' . implode('|', $quoted) . ')/';
        $names = array_flip($contained);
        $pieces = [];
        foreach (preg_split($pattern, $value, -1, PREG_SPLIT_DELIM_CAPTURE) as $index => $part) {
            if ($index % 2 === 1) {
                $pieces[] = self::getenv($names[$part]);
            } elseif ($part !== '') {
                $pieces[] = var_export($part, true);
            }
        }

        return '(' . implode(' . ', $pieces) . ')';
    }

    /** The expression that reads variable `$name` from the process environment. */
    private static function getenv(string $name): string
    {
        return '\\getenv(' . var_export($name, true) . ', true)';
    }

    /**
     * Whether `Env::get($name)` in a php-fpm worker reads the process environment: in
     * php-fpm, `$_SERVER` also holds the request's FastCGI params, which come first, so a
     * variable named like one of them (or like a request header, `HTTP_*`) could be
     * shadowed by the request.
     */
    private function readsCleanly(string $name): bool
    {
        return !str_starts_with($name, 'HTTP_') && !in_array($name, self::REQUEST_PARAMS, true);
    }

    /** The FastCGI params the runtime sends besides the request's headers. */
    private const REQUEST_PARAMS = [
        'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_ROOT', 'DOCUMENT_URI', 'GATEWAY_INTERFACE',
        'HTTPS', 'PATH_INFO', 'QUERY_STRING', 'REDIRECT_STATUS', 'REMOTE_ADDR', 'REMOTE_PORT',
        'REQUEST_METHOD', 'REQUEST_SCHEME', 'REQUEST_URI', 'SCRIPT_FILENAME', 'SCRIPT_NAME',
        'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'SERVER_SOFTWARE', '_X_AMZN_TRACE_ID',
        'LAMBDA_REQUEST_ID', 'HOVER_STORAGE_PATH',
    ];
}
