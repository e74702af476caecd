<?php

declare(strict_types=1);

namespace Hover\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Hover\ConfigCache: Laravel's configuration cached for php-fpm's workers with no secret
 * value in the file. Each case is a small application whose config files use secrets the
 * ways real ones do; the cache is written in a PHP process whose environment holds the
 * secrets (as init sets them), then read back in another, as a worker would read it.
 */
final class ConfigCacheTest extends TestCase
{
    private string $base;

    protected function setUp(): void
    {
        $this->base = sys_get_temp_dir() . '/hover-config-cache-' . bin2hex(random_bytes(4));
        mkdir($this->base . '/config', 0777, true);
        mkdir($this->base . '/bootstrap/cache', 0777, true);
    }

    protected function tearDown(): void
    {
        exec('rm -rf ' . escapeshellarg($this->base));
    }

    /**
     * @param array<string, string> $secrets
     * @return array{refused: ?string, config: array<string, mixed>}
     */
    private function writeCache(string $configFile, array $secrets): array
    {
        file_put_contents($this->base . '/config/app.php', "<?php\n\nreturn " . $configFile . ";\n");

        return json_decode($this->php(['write', $this->base, implode(',', array_keys($secrets))], $secrets), true);
    }

    /** @param array<string, string> $environment */
    private function php(array $arguments, array $environment): string
    {
        $command = [PHP_BINARY, __DIR__ . '/fixtures/config_cache.php', ...$arguments];
        $environment += ['PATH' => getenv('PATH')];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $environment);
        $stdout = stream_get_contents($pipes[1]);
        $stderr = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($process), $stdout . $stderr);

        return $stdout;
    }

    private function cacheFile(): string
    {
        return $this->base . '/bootstrap/cache/config.php';
    }

    /**
     * The cache file holds none of the secrets, and a process with the same environment
     * reads exactly the configuration from it.
     *
     * @param array<string, string> $secrets
     * @param array<string, mixed> $config
     */
    private function assertCachedWithoutSecrets(array $secrets, array $config): void
    {
        $this->assertFileExists($this->cacheFile());
        $cached = file_get_contents($this->cacheFile());
        foreach ($secrets as $name => $value) {
            $this->assertStringNotContainsString($value, $cached, "{$name}'s value is in the cache file");
        }
        $this->assertSame($config, json_decode($this->php(['read', $this->cacheFile()], $secrets), true));
    }

    public function testSecretsAreReadFromTheEnvironmentNotWrittenInTheFile(): void
    {
        $secrets = [
            'DB_PASSWORD' => 's3cr3t-pa55word',
            'REDIS_PASSWORD' => 'r3dis-Pa55',
            'API_TOKEN' => 'tok_live_51HqLyjWDarjtT1zdp7dc',
            'FEATURE_FLAG' => '(true)', // env() makes it true
        ];
        $result = $this->writeCache(<<<'PHP'
            [
                'name' => 'shop',
                'password' => env('DB_PASSWORD'),
                'redis' => 'redis://:' . env('REDIS_PASSWORD') . '@cache:6379/0',
                'token' => getenv('API_TOKEN'),
                'token_header' => 'Bearer ' . getenv('API_TOKEN'),
                'flag' => env('FEATURE_FLAG'),
                'nested' => ['deep' => ['password' => env('DB_PASSWORD')], 'plain' => [1, 2.5, null, false]],
            ]
            PHP, $secrets);

        $this->assertNull($result['refused']);
        $this->assertSame('redis://:r3dis-Pa55@cache:6379/0', $result['config']['app']['redis']);
        $this->assertTrue($result['config']['app']['flag']);
        $this->assertCachedWithoutSecrets($secrets, $result['config']);
    }

    public function testASecretThatIsAlsoAnOrdinaryNameDoesNotStopTheCache(): void
    {
        // DB_CONNECTION=mysql is a "secret" here, and "mysql" is a key of the config too.
        $secrets = ['DB_CONNECTION' => 'mysql', 'DB_PORT' => '3306'];
        $result = $this->writeCache(<<<'PHP'
            [
                'default' => env('DB_CONNECTION'),
                'connections' => ['mysql' => ['driver' => 'mysql', 'port' => env('DB_PORT')]],
            ]
            PHP, $secrets);

        $this->assertNull($result['refused']);
        $this->assertSame(
            ['default' => 'mysql', 'connections' => ['mysql' => ['driver' => 'mysql', 'port' => '3306']]],
            $result['config']['app']
        );
        $this->assertSame($result['config'], json_decode($this->php(['read', $this->cacheFile()], $secrets), true));
        $this->assertStringNotContainsString("'3306'", file_get_contents($this->cacheFile()));
    }

    /** @return array<string, array{0: string}> */
    public static function transformedSecrets(): array
    {
        return [
            'explode' => ["['hosts' => explode(',', env('DB_HOSTS'))]", 'app.hosts'],
            'base64_decode' => ["['key' => base64_decode(env('SIGNING_KEY'))]", 'app.key'],
            'integer cast' => ["['port' => (int) env('SECRET_PORT')]", 'app.port'],
            'keys from a secret' => ["['by_host' => [env('DB_HOSTS') => 1]]", 'app.by_host'],
        ];
    }

    /** @dataProvider transformedSecrets */
    public function testATransformedSecretIsNotCachedAndTheKeyIsNamed(string $config, string $key): void
    {
        $secrets = [
            'DB_HOSTS' => 'db-1.internal,db-2.internal',
            'SIGNING_KEY' => base64_encode('signing key bytes'),
            'SECRET_PORT' => '65001',
        ];
        $result = $this->writeCache($config, $secrets);

        $this->assertIsString($result['refused']);
        $this->assertStringContainsString($key, $result['refused']);
        foreach ($secrets as $value) {
            $this->assertStringNotContainsString($value, $result['refused']);
        }
        $this->assertFileDoesNotExist($this->cacheFile());
        $this->assertSame([], glob($this->base . '/bootstrap/cache/*'), 'no temporary file is left');
    }

    public function testWithoutSecretsTheCacheIsLaravelsOwnExport(): void
    {
        $result = $this->writeCache("['name' => 'shop', 'list' => [1, 2], 'env' => env('APP_ENV', 'production')]", []);

        $this->assertNull($result['refused']);
        $this->assertSame(
            '<?php return ' . var_export($result['config'], true) . ';' . PHP_EOL,
            file_get_contents($this->cacheFile())
        );
    }
}
